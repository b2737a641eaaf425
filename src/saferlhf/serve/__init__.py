"""Torch-free scoring core behind the ONNX Runtime service (`serving/` is the FastAPI adapter).

bundle: find and verify a servable model (local folder or MLflow URI); scorer: tokenize + ONNX Runtime;
batcher: adaptive micro-batching; predlog: the prediction log the drift monitor reads; v2: KServe V2 tensors.
Nothing here imports torch (the PyTorch baseline backend imports it lazily, only when asked for)."""
