"""`multipose serve`: an HTTP API and a web page over the package's estimators. `create_app`
(app.py) builds the ASGI app; engine.py runs the estimates (models loaded once, a bounded
queue), uploads.py checks and reads uploaded files, answers.py shapes the JSON, clips.py tracks
a clip's people, static/ holds the page. Needs the extra: pip install 'multipose[serve]'."""

from multipose.serve.app import create_app
from multipose.serve.uploads import Limits

__all__ = ["Limits", "create_app"]
