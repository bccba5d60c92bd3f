# One image for every part of mailup-sim; docker-compose.yml picks the part
# with `manage.py serve --only <part>`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAILUP_SIM_VAR_DIR=/app/var

WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

EXPOSE 8000 1025 2121
CMD ["python", "manage.py", "serve"]
