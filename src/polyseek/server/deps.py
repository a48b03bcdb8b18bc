"""FastAPI dependencies: the server state, its settings, the engine and typed request bodies for route handlers.

>>> @router.get("/api/things")  # doctest: +SKIP
... def things(engine: EngineDep, settings: SettingsDep) -> dict: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from polyseek.engine import Engine
from polyseek.server import bodies
from polyseek.server.state import ServerSettings, ServerState
from polyseek.server.uploads import Uploads


def get_state(request: Request) -> ServerState:
    return request.app.state.polyseek


def get_settings(state: Annotated[ServerState, Depends(get_state)]) -> ServerSettings:
    return state.settings


def get_engine(state: Annotated[ServerState, Depends(get_state)]) -> Engine:
    return state.engine


StateDep = Annotated[ServerState, Depends(get_state)]
SettingsDep = Annotated[ServerSettings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
UploadsDep = Annotated[Uploads, Depends(bodies.uploaded_files)]

SearchBody = Annotated[bodies.SearchRequest, Depends(bodies.body_of(bodies.SearchRequest))]
AskBody = Annotated[bodies.AskRequest, Depends(bodies.body_of(bodies.AskRequest))]
JobBody = Annotated[bodies.JobRequest, Depends(bodies.body_of(bodies.JobRequest))]
ConceptBody = Annotated[bodies.ConceptIn, Depends(bodies.body_of(bodies.ConceptIn))]
ConceptPatchBody = Annotated[bodies.ConceptPatch, Depends(bodies.body_of(bodies.ConceptPatch))]
ConceptImportBody = Annotated[bodies.ConceptImport, Depends(bodies.body_of(bodies.ConceptImport))]
LoginBody = Annotated[bodies.LoginRequest, Depends(bodies.body_of(bodies.LoginRequest))]
