from handlers.cli import app

app()
