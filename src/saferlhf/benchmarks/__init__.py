"""External safety benchmarks (HarmBench, AdvBench, JailbreakBench, StrongREJECT, Do-Not-Answer, XSTest, OR-Bench):
loaders for their published files, pluggable judges, and the base-vs-RL report. Importing does nothing; the stage
entry is `saferlhf.benchmarks.run.run_benchmark`."""
