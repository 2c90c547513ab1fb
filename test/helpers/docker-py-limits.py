"""
What a docker-py program does with limits, stats and pause (Debian's
python3-docker): a container with mem_limit, nano_cpus and pids_limit, one
stats reading, pause and unpause, update_container, read back. Prints one
JSON object of what it read. argv[1]: the daemon's socket URL.
"""
import json
import sys

import docker

client = docker.APIClient(base_url=sys.argv[1], version='1.41')
seen = {}

container = client.create_container(
    'busybox', 'sleep 300', name='pylimits',
    host_config=client.create_host_config(mem_limit='64m', nano_cpus=500000000, pids_limit=20))
client.start(container)
host_config = client.inspect_container(container)['HostConfig']
seen['created'] = {key: host_config[key] for key in ['Memory', 'MemorySwap', 'NanoCpus', 'PidsLimit']}

stats = client.stats(container, stream=False)
seen['stats'] = {'memory_limit': stats['memory_stats']['limit'], 'pids': stats['pids_stats']['current'], 'has_precpu': 'system_cpu_usage' in stats['precpu_stats']}

client.pause(container)
state = client.inspect_container(container)['State']
seen['paused'] = [state['Status'], state['Paused']]
client.unpause(container)
seen['unpaused'] = client.inspect_container(container)['State']['Status']

client.update_container(container, mem_limit='100m', memswap_limit='200m', cpu_shares=256)
host_config = client.inspect_container(container)['HostConfig']
seen['updated'] = {key: host_config[key] for key in ['Memory', 'MemorySwap', 'CpuShares']}

client.remove_container(container, force=True)
print(json.dumps(seen))
