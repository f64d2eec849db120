"""`/v1/models`: OpenAI's model listing; `/v1/audio/models` (which Open WebUI asks for) the same
listing that also carries it as `models`, the key Open WebUI reads; plus a setting-gated unload of a
version's weights."""
from fastapi import APIRouter, Query

from ..core.exceptions import Forbidden, InvalidRequest, NotFound
from ..dependencies import ManagerDep, SettingsDep
from ..inference.model_manager import ModelManager
from ..structures.schemas import AudioModelList, ModelCard, ModelList

router = APIRouter(tags=["Models"])   # mounted under /v1 and, for clients that drop it, at the root (main)
_CREATED = 1735689600  # 2025-01-01, a fixed date: ids are stable across restarts


def _card(manager: ModelManager, model_id: str, version: str) -> ModelCard:
    return ModelCard(id=model_id, created=_CREATED, version=version, state=manager.state(version).value)


def _version_of(manager: ModelManager, model_id: str) -> str:
    """The version ``model_id`` selects (the manager's rule, as for speech); a path naming no model is a
    404 here, with the manager's message and code."""
    try:
        return manager.version_for(model_id)
    except InvalidRequest as exc:
        raise NotFound(exc.message, param=exc.param, code=exc.code) from exc


def _cards(manager: ModelManager) -> list[ModelCard]:
    return [_card(manager, model_id, version) for model_id, version in manager.model_ids().items()]


@router.get("/models", response_model=ModelList, summary="List models")
async def list_models(manager: ManagerDep):
    return ModelList(data=_cards(manager))


@router.get("/audio/models", response_model=AudioModelList,
            summary="List models: OpenAI's `data` and, for Open WebUI, the same cards as `models`")
async def list_audio_models(manager: ManagerDep):
    cards = _cards(manager)
    return AudioModelList(data=cards, models=cards)


@router.get("/models/{model_id}", response_model=ModelCard, summary="Describe a model")
async def get_model(model_id: str, manager: ManagerDep):
    return _card(manager, model_id, _version_of(manager, model_id))


@router.post("/models/{model_id}/unload", response_model=ModelCard,
             summary="Free a version's memory (ALLOW_MODEL_UNLOAD=true); the next request builds it again")
async def unload_model(model_id: str, manager: ManagerDep, settings: SettingsDep,
                       wait: bool = Query(True, description="Wait for requests in flight; "
                                                            "false answers 409 instead")):
    if not settings.allow_model_unload:
        raise Forbidden("unloading models is disabled on this server (ALLOW_MODEL_UNLOAD=false)",
                        code="unload_disabled")
    version = _version_of(manager, model_id)
    await manager.unload(version, wait=wait)
    return _card(manager, model_id, version)
