import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runtimesToWire } from '../../src/api/wire/runtimes.js';
import {
  chooseRuntimes,
  crunCgroupRefusal,
  crunOnLayout,
  runtimeInvocation,
  runtimeNamed,
  v1ViewMounts,
  type CgroupLayout,
  type OciRuntime,
} from '../../src/runtime/oci-runtimes.js';

const RUNC = '/usr/sbin/runc';
const CRUN = '/usr/bin/crun';

describe('OCI runtimes: which ones, and the default', () => {
  it('lets crun run on pure v2, pure v1 and hybrid with an empty v2 hierarchy, and refuses hybrid with controllers in v2', () => {
    assert.equal(crunCgroupRefusal({ mode: 'unified' }), undefined);
    assert.equal(crunCgroupRefusal({ mode: 'legacy' }), undefined);
    assert.equal(crunCgroupRefusal({ mode: 'hybrid', unifiedControllers: [] }), undefined);
    assert.equal(
      crunCgroupRefusal({ mode: 'hybrid', unifiedControllers: ['hugetlb'] }),
      'cgroups are hybrid (v1, and v2 at /sys/fs/cgroup/unified holding hugetlb), which crun refuses',
    );
  });

  it('defaults to crun only when it is installed and usable, else runc', () => {
    const none = { defaultRuntime: '', runtimes: {} };
    assert.equal(chooseRuntimes(none, { runcPath: RUNC }).defaultName, 'runc');
    assert.equal(chooseRuntimes(none, { runcPath: RUNC, crun: { path: CRUN, refusal: 'hybrid' } }).defaultName, 'runc');
    assert.equal(chooseRuntimes(none, { runcPath: RUNC, crun: { path: CRUN, refusal: 'hybrid' } }).runtimes.has('crun'), false);
    const usable = chooseRuntimes(none, { runcPath: RUNC, crun: { path: CRUN } });
    assert.equal(usable.defaultName, 'crun');
    assert.deepEqual(usable.runtimes.get('crun'), { name: 'crun', path: CRUN, args: [] });
    // A default the configuration names wins over the host's choice.
    assert.equal(chooseRuntimes({ defaultRuntime: 'runc', runtimes: {} }, { runcPath: RUNC, crun: { path: CRUN } }).defaultName, 'runc');
  });

  it('runs crun through the v1 cgroups view on a hybrid host whose v2 part holds controllers, when the view works', () => {
    const hybrid: CgroupLayout = { mode: 'hybrid', unifiedControllers: ['hugetlb'] };
    assert.deepEqual(crunOnLayout(CRUN, { mode: 'legacy' }, undefined), { path: CRUN });
    assert.deepEqual(crunOnLayout(CRUN, hybrid, undefined), {
      path: CRUN,
      v1CgroupsView: true,
      refusedLayout: 'cgroups are hybrid (v1, and v2 at /sys/fs/cgroup/unified holding hugetlb), which crun refuses',
    });
    assert.deepEqual(crunOnLayout(CRUN, hybrid, 'unshare: Operation not permitted'), {
      path: CRUN,
      refusal: 'cgroups are hybrid (v1, and v2 at /sys/fs/cgroup/unified holding hugetlb), which crun refuses, and unshare: Operation not permitted',
    });
  });

  it('defaults to crun through the view, lists it beside runc whatever the default, and says why', () => {
    const host = { runcPath: RUNC, crun: crunOnLayout(CRUN, { mode: 'hybrid', unifiedControllers: ['hugetlb'] }, undefined) };
    const chosen = chooseRuntimes({ defaultRuntime: '', runtimes: {} }, host);
    assert.equal(chosen.defaultName, 'crun');
    assert.deepEqual(chosen.runtimes.get('crun'), { name: 'crun', path: CRUN, args: [], v1CgroupsView: true });
    assert.match(chosen.why ?? '', /hybrid .* private mount namespace without \/sys\/fs\/cgroup\/unified/);
    const runcDefault = chooseRuntimes({ defaultRuntime: 'runc', runtimes: {} }, host);
    assert.equal(runcDefault.defaultName, 'runc');
    assert.equal(runcDefault.runtimes.get('crun')?.v1CgroupsView, true, 'crun stays listed (docker info, --runtime crun)');
    // A crun the configuration adds runs through the view too; another runtime never does.
    const added = chooseRuntimes({ defaultRuntime: '', runtimes: { mycrun: { path: CRUN }, myrunc: { path: RUNC } } }, host);
    assert.equal(added.runtimes.get('mycrun')?.v1CgroupsView, true);
    assert.equal(added.runtimes.get('myrunc')?.v1CgroupsView, undefined);
    assert.equal(added.runtimes.get('runc')?.v1CgroupsView, undefined);
    assert.match(chooseRuntimes({ defaultRuntime: '', runtimes: {} }, { runcPath: RUNC }).why ?? '', /^crun is not installed/);
  });

  it('takes --default-runtime crun where crun runs, and says why not where it cannot', () => {
    assert.equal(chooseRuntimes({ defaultRuntime: 'crun', runtimes: {} }, { runcPath: RUNC, crun: { path: CRUN } }).defaultName, 'crun');
    assert.throws(
      () => chooseRuntimes({ defaultRuntime: 'crun', runtimes: {} }, { runcPath: RUNC }),
      /default runtime 'crun' cannot run here: crun is not installed/,
    );
    assert.throws(
      () => chooseRuntimes({ defaultRuntime: 'crun', runtimes: {} }, { runcPath: RUNC, crun: { path: CRUN, refusal: 'cgroups are hybrid' } }),
      /cannot run here: .* is installed, but cgroups are hybrid/,
    );
  });

  it('calls a runtime directly, or through skiff-v1-cgroups (runtime first) for the calls that make cgroups or processes', () => {
    const kill = ['--root', '/run/skiff/crun', 'kill', 'ID', 'TERM'];
    const crun: OciRuntime = { name: 'crun', path: CRUN, args: [], v1CgroupsView: true };
    assert.deepEqual(runtimeInvocation({ name: 'runc', path: RUNC, args: [] }, kill, 'makes', '/v1view'), { program: RUNC, args: kill });
    assert.deepEqual(runtimeInvocation(crun, kill, 'acts-on', '/v1view'), { program: CRUN, args: kill });
    const create = ['--root', '/run/skiff/crun'];
    assert.deepEqual(runtimeInvocation(crun, create, 'makes', '/v1view'), { program: '/v1view', args: [CRUN, ...create] });
    assert.deepEqual(runtimeInvocation(crun, create, 'makes', '/v1view', '/run/skiff/v1-view.pid'), {
      program: '/v1view',
      args: ['--view', '/run/skiff/v1-view.pid', CRUN, ...create],
    });
    assert.deepEqual(runtimeInvocation(crun, kill, 'acts-on', '/v1view', '/run/skiff/v1-view.pid'), { program: CRUN, args: kill });
  });

  it("lists what a create carries into the lean view: rootfs, netns file, bind sources, not a process's /proc namespace", () => {
    const config = {
      root: { path: 'rootfs' },
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/etc/hosts', type: 'bind', source: '/var/lib/skiff/containers/c/hosts', options: ['rbind', 'rprivate', 'rw'] },
        { destination: '/data', source: '/srv/data', options: ['rbind'] },
        { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] },
      ],
      linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/skiff/netns/abc' }] },
    };
    assert.equal(
      v1ViewMounts('/run/skiff/containers/c', config),
      '/run/skiff/containers/c/rootfs\n/run/skiff/netns/abc\n/var/lib/skiff/containers/c/hosts\n/srv/data\n',
    );
    assert.equal(v1ViewMounts('/b', { root: { path: '/r' }, linux: { namespaces: [{ type: 'network', path: '/proc/42/ns/net' }] } }), '/r\n');
    assert.equal(v1ViewMounts('/b', {}), '/b/rootfs\n');
  });

  it("resolves a container's runtime by name ('' = the default), with Docker's error for an unknown one", () => {
    const set = chooseRuntimes({ defaultRuntime: '', runtimes: { myrunc: { path: RUNC, runtimeArgs: ['--debug'] } } }, { runcPath: RUNC });
    assert.deepEqual(runtimeNamed(set, ''), { name: 'runc', path: RUNC, args: [] });
    assert.deepEqual(runtimeNamed(set, 'myrunc'), { name: 'myrunc', path: RUNC, args: ['--debug'] });
    assert.equal(runtimeNamed(set, 'io.containerd.runc.v2').path, RUNC);
    assert.throws(
      () => runtimeNamed(set, 'nope'),
      (error: Error & { status?: number }) => error.message === 'Unknown runtime specified nope' && error.status === 400,
    );
  });

  it("shows docker info's Runtimes as dockerd 20.10 does", () => {
    const set = chooseRuntimes(
      { defaultRuntime: '', runtimes: { myrunc: { path: RUNC }, crun: { path: CRUN, runtimeArgs: ['--debug'] } } },
      { runcPath: RUNC },
    );
    assert.deepEqual(runtimesToWire(set), {
      crun: { path: CRUN, runtimeArgs: ['--debug'] },
      'io.containerd.runc.v2': { path: 'runc' },
      'io.containerd.runtime.v1.linux': { path: 'runc' },
      myrunc: { path: RUNC },
      runc: { path: 'runc' },
    });
  });
});
