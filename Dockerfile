FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The pinned, hash-checked production packages first (a layer kept while the lock is unchanged);
# the project runs from /app, not installed (pyproject.toml lists no packages).
COPY requirements/prod.lock requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/prod.lock
COPY . .
# Collected in production mode (no DEVELOPMENT): the manifest storage needs its staticfiles.json.
# The build has no secret and no database: a throw-away random key (production settings refuse
# a weak one) and a placeholder URL (settings only parse it).
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DATABASE_URL=postgres://unused@localhost/unused \
    python manage.py collectstatic --noinput
ENV PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["gunicorn", "branch_portal.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
