"""What the container image needs besides the app: its health check (Dockerfile, docker-compose.yml)."""
