"""Stand-ins for the systems engine_builder talks to, for tests only.

* `nim_server`: a NIM server stand-in (HTTP readiness + engine files + local manifest).
* `tensorrt_llm_standin`: a module shaped like the TensorRT-LLM 1.2 build API (and the bit of
  torch.cuda it needs), writing fake engine files and recording every call.
* `fake_bin`: writes a fake `nvidia-smi` and a `tensorrt_llm` shim for subprocess runs.

None of them is a mock of engine_builder itself: the tests run the real builder against them.
"""
