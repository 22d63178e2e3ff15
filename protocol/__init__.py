"""The contract between the api/control plane and the gpu fleet: neutral, imported by both sides.

Pure python: it imports neither Django nor torch, nor anything of api_service or gpu_worker.
"""
