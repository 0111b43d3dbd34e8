"""Local simulators of Rutter, Jortt, B2Brouter and Routty on one loopback port.

Start one with `sandbox.server.start_sandbox()` or `python -m sandbox`.
"""
