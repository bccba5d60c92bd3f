"""GET /Console/Sms/Sendings/Immediate, /Deferred and /Undefined: a console's SMS sendings in each queue.

sending.sms_queue decides which queue a sending is in. Paging, filterby,
orderby and the items are those of the e-mail queues
(/Console/Email/Sendings/…), with SMS sending and SMS message ids.
"""

from lists.rest import paged
from sending import sms_queue
from sending.rest import SENDING_PROPERTIES, sending_item


def shape_sms_sending(sending):
    # One transaction writes every SMS of a sending, so it starts and ends at the same time.
    return sending_item(sending, sending.sent_at, sending.sent_at)


def sms_sending_queue(queue):
    """Build the view of GET /Console/Sms/Sendings/`queue`, where `queue` is immediate, deferred or undefined."""

    def view(request):
        sendings = sms_queue.console_sms_queue(request.account, queue).select_related("message", "list")
        return paged(request, sendings, SENDING_PROPERTIES, shape_sms_sending)

    view.__name__ = "sms_sending_queue"
    return view
