"""English formats with the day before the month and a 24-hour clock, which MailUp's users expect.

Django's own English formats are American (month/day and a.m./p.m.). The
names missing here keep Django's English values. Display formats use
Django's date format syntax, input formats Python's strftime syntax.
"""

DATE_FORMAT = "j M Y"  # 5 Dec 2026
TIME_FORMAT = "H:i"  # 14:30
DATETIME_FORMAT = "j M Y, H:i"  # 5 Dec 2026, 14:30
MONTH_DAY_FORMAT = "j F"  # 5 December
SHORT_DATE_FORMAT = "d/m/Y"  # 05/12/2026
SHORT_DATETIME_FORMAT = "d/m/Y H:i"  # 05/12/2026 14:30
FIRST_DAY_OF_WEEK = 1  # Monday

# ISO dates come first because form fields render their value in the first
# format, and the label of the warm-up date field shows YYYY-MM-DD. A date
# with slashes is read day first, never month first.
DATE_INPUT_FORMATS = [
    "%Y-%m-%d",  # 2026-12-05
    "%d/%m/%Y",  # 05/12/2026
    "%d/%m/%y",  # 05/12/26
]
DATETIME_INPUT_FORMATS = [
    "%Y-%m-%d %H:%M:%S",  # 2026-12-05 14:30:59
    "%Y-%m-%d %H:%M",  # 2026-12-05 14:30
    "%d/%m/%Y %H:%M:%S",  # 05/12/2026 14:30:59
    "%d/%m/%Y %H:%M",  # 05/12/2026 14:30
    "%d/%m/%y %H:%M",  # 05/12/26 14:30
]
