"""`agentkit serve`: the agent over HTTP with a bearer token, and a web page to look at the evidence.

Example:
    ```python
    import uvicorn
    from agentkit.server import ServerSettings, create_app

    app = create_app(ServerSettings(store="my_store"), token="a-long-random-token-string")
    uvicorn.run(app, host="127.0.0.1", port=8750)
    ```
"""
from agentkit.server.app import create_app
from agentkit.server.auth import TOKEN_ENV, PathPolicy, resolve_token
from agentkit.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app", "resolve_token", "PathPolicy", "TOKEN_ENV"]
