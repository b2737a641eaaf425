"""The SafeRLHF Kubeflow pipelines and their compiled specs: training (`saferlhf_pipeline.py` ->
`saferlhf_pipeline.yaml`) and the drift monitor (`monitor_pipeline.py` -> `monitor_pipeline.yaml`)."""
