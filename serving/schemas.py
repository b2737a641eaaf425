"""Request and response bodies of both APIs (separate classes per direction; unknown fields are rejected)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- simple JSON API (/v1/score)
class ScoreItem(_Body):
    prompt: StrictStr
    response: StrictStr


class ScoreRequest(_Body):
    items: list[ScoreItem]


class ItemScores(BaseModel):
    safety: float
    toxicity: float
    hallucination_risk: float
    compliance: float
    reward: float


class ScoreResponse(BaseModel):
    model_name: str
    model_version: str
    results: list[ItemScores]


# ---------------------------------------------------------------- KServe V2 / Open Inference Protocol
class InferInputTensor(_Body):
    name: StrictStr
    shape: list[StrictInt]
    datatype: StrictStr
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None
    """JSON data; absent when parameters.binary_data_size places it after the JSON header (binary extension)."""


class InferRequestedOutput(_Body):
    name: StrictStr
    parameters: dict[str, Any] | None = None


class InferRequest(_Body):
    id: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[InferInputTensor] = Field(max_length=8)  # two are needed; room for a clear "given twice"
    outputs: list[InferRequestedOutput] | None = Field(None, max_length=8)


class InferOutputTensor(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[float] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[InferOutputTensor]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ErrorResponse(BaseModel):
    error: str
