"""The SafeRLHF Kubeflow pipeline (`saferlhf_pipeline.py`) and its compiled spec (`saferlhf_pipeline.yaml`)."""
