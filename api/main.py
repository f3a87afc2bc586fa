"""`orderflow-api`: serve the API with uvicorn."""

import uvicorn

from api.app import create_app
from config import configure_logging, get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
