"""
What a docker-py program does against a daemon (Debian's python3-docker):
networks with IPAM config, endpoint settings at create and connect (aliases,
links, link-local IPs, driver options, a MAC), read back; a legacy link
removed; leave_swarm(force=True) as test suites' tear-downs call it.
Prints one JSON object of what it read. argv[1]: the daemon's socket URL.
"""
import json
import sys

import docker
from docker.types import IPAMConfig, IPAMPool

client = docker.APIClient(base_url=sys.argv[1], version='1.41')
seen = {}

ipam = IPAMConfig(pool_configs=[IPAMPool(subnet='10.77.0.0/24', gateway='10.77.0.1', iprange='10.77.0.128/25')], options={'opt': 'v'})
network = client.create_network('pynet', driver='bridge', ipam=ipam, labels={'k': 'v'}, check_duplicate=True)
seen['network'] = client.inspect_network(network['Id'])

alpha = client.create_container(
    'busybox', 'sleep 300', name='pya',
    host_config=client.create_host_config(network_mode='pynet'),
    networking_config=client.create_networking_config({'pynet': client.create_endpoint_config(aliases=['alpha'], ipv4_address='10.77.0.10')}))
client.start(alpha)
beta = client.create_container('busybox', 'sleep 300', name='pyb')
client.start(beta)
client.connect_container_to_network(
    beta, 'pynet', aliases=['beta'], links=[('pya', 'aa')], link_local_ips=['169.254.10.10'],
    driver_opt={'com.example.x': 'y'}, ipv4_address='10.77.0.20')
seen['alpha'] = client.inspect_container(alpha)['NetworkSettings']['Networks']['pynet']
seen['beta'] = client.inspect_container(beta)['NetworkSettings']['Networks']['pynet']

# Legacy link on the default bridge, then removed as `docker rm --link` does.
gamma = client.create_container('busybox', 'sleep 300', name='pyc', host_config=client.create_host_config(links={'pyb': 'bb'}))
seen['gamma_links'] = client.inspect_container(gamma)['HostConfig']['Links']
client.remove_container('/pyc/bb', link=True)
seen['gamma_links_after'] = client.inspect_container(gamma)['HostConfig']['Links']

seen['leave_swarm'] = client.leave_swarm(force=True)
seen['filtered'] = [c['Names'][0] for c in client.containers(all=True, filters={'network': 'pynet', 'label': []})]
print(json.dumps(seen))
