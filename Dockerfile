# Tandportal's application image: the web server (gunicorn), the Celery worker and Celery beat all run
# from it; docker-compose.yml chooses which. See docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=portal.settings.production \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    TANDPORTAL_MEDIA_ROOT=/data/media

# The processes run as this user; the code and collected static files stay owned by root, read-only to it.
RUN groupadd --system --gid 10001 tandportal \
    && useradd --system --uid 10001 --gid tandportal --create-home --home-dir /home/tandportal \
        --shell /usr/sbin/nologin tandportal

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. The image has no compiler: the pins
# are installed from wheels (a pin without a Linux wheel for CPython 3.11 fails the build here).
# requirements.lock is the runtime only: no test tools, linters or embedded dev services in the image.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .

# Translations are compiled here (the .mo files are not committed).
RUN python scripts/compile_messages.py

# Production settings refuse to load without their secrets. These throwaway values exist only for this
# one RUN line and sign nothing; collectstatic connects to neither the database nor Redis.
RUN DJANGO_SECRET_KEY=build-time-collectstatic-only-throwaway-value-signs-nothing \
    DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --no-input --verbosity 0

# Mount points for the media and beat-schedule volumes; a new named volume takes this ownership.
RUN mkdir -p /data/media /data/beat && chown -R tandportal:tandportal /data

USER tandportal

EXPOSE 8000

CMD ["gunicorn", "portal.wsgi:application", "--config", "deploy/gunicorn.conf.py", "--bind", "0.0.0.0:8000", \
     "--max-requests", "1000", "--max-requests-jitter", "200", "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
