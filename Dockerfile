# The kamreview image: worker, CLI and web app share it (the command differs per service).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -c constraints.txt -e .
CMD ["python", "worker.py"]
