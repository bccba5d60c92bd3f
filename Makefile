# mailup-sim: `make run` starts the whole platform, `make test` runs the suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test messages clean

$(BIN)/.installed: requirements.txt requirements-clients.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	# Real MailUp clients the tests drive; they pin old versions of shared
	# libraries exactly, so they are installed without their dependencies.
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-clients.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py serve

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Refresh both catalogues from the code and templates, then compile them.
messages: install
	$(BIN)/python manage.py makemessages --locale it --locale en --no-obsolete --ignore "$(VENV)/*"
	$(BIN)/python manage.py compilemessages --ignore "$(VENV)/*"

clean:
	rm -rf var .pytest_cache
