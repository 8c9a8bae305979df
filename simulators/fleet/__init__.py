"""Protocol-level simulated devices: thousands in one asyncio process, speaking the same protocol
(through protocols/) as the real firmware. For a handful of devices with full fidelity, run the real
firmware instead (simulators/devices/)."""
