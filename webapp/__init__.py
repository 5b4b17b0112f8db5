"""kamreview web app: FastAPI pages and JSON API over the engine (see webapp.app.create_app)."""
