import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderGoTemplate } from '../../src/cli/go-template.js';
import { renderTable, renderFormatted } from '../../src/cli/table.js';
import { ipamConfigFromFlags, keyValueMap } from '../../src/cli/network-create-args.js';

const network = {
  Name: 'localnet',
  Id: 'abc',
  Containers: { c1: { Name: 'web', IPv4Address: '172.18.0.2/16' } },
  IPAM: { Config: [{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.1' }] },
  Labels: {},
  Options: { 'a.b': 'x' },
};

test('go templates: fields, json, range, index, if, printf, pipes', () => {
  assert.equal(renderGoTemplate('{{.Name}}', network), 'localnet');
  assert.equal(renderGoTemplate('{{json .Containers}}', network), JSON.stringify(network.Containers));
  assert.equal(renderGoTemplate('{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}', network), '172.18.0.0/16 172.18.0.1');
  assert.equal(renderGoTemplate('{{range $id, $c := .Containers}}{{$id}}={{$c.Name}}{{end}}', network), 'c1=web');
  assert.equal(renderGoTemplate('{{index .Options "a.b"}}', network), 'x');
  assert.equal(renderGoTemplate('{{if .Labels}}labels{{else}}none{{end}}', network), 'none');
  assert.equal(renderGoTemplate('{{printf "%s/%s" .Name .Id}}', network), 'localnet/abc');
  assert.equal(renderGoTemplate('{{.Name | upper}}', network), 'LOCALNET');
  assert.equal(renderGoTemplate('{{.Missing}}', network), '<no value>');
  assert.equal(renderGoTemplate('{{.Options}}', network), 'map[a.b:x]');
  assert.throws(() => renderGoTemplate('{{.Name', network), /unclosed action/);
});

test("tables pad like Go's tabwriter: minwidth 10, padding 3", () => {
  assert.equal(
    renderTable([
      ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
      ['0123456789ab', 'bridge', 'bridge', 'local'],
    ]),
    'NETWORK ID     NAME      DRIVER    SCOPE\n0123456789ab   bridge    bridge    local\n',
  );
  const rendered = renderFormatted('table {{.Name}}\t{{.Driver}}', [{ Name: 'a', Driver: 'bridge' }], renderGoTemplate, { Name: 'NAME', Driver: 'DRIVER' });
  assert.equal(rendered, 'NAME      DRIVER\na         bridge\n');
});

test('--gateway, --ip-range and --aux-address pair with the subnet that holds them', () => {
  assert.deepEqual(
    ipamConfigFromFlags({ subnets: ['10.1.0.0/16', '10.2.0.0/16'], gateways: ['10.2.0.254'], ipRanges: ['10.1.5.0/24'], auxAddresses: ['r=10.1.0.9'] }),
    [
      { Subnet: '10.1.0.0/16', IPRange: '10.1.5.0/24', AuxiliaryAddresses: { r: '10.1.0.9' } },
      { Subnet: '10.2.0.0/16', Gateway: '10.2.0.254' },
    ],
  );
  assert.throws(
    () => ipamConfigFromFlags({ subnets: ['10.1.0.0/16'], gateways: ['10.9.0.1'], ipRanges: [], auxAddresses: [] }),
    /no matching subnet for gateway 10\.9\.0\.1/,
  );
  assert.throws(
    () => ipamConfigFromFlags({ subnets: [], gateways: ['10.9.0.1'], ipRanges: [], auxAddresses: [] }),
    /every ip-range or gateway must have a corresponding subnet/,
  );
  assert.throws(
    () => ipamConfigFromFlags({ subnets: ['10.1.0.0/16'], gateways: ['10.1.0.1', '10.1.0.2'], ipRanges: [], auxAddresses: [] }),
    /cannot configure multiple gateways/,
  );
  assert.deepEqual(keyValueMap(['a=b=c', 'flag']), { a: 'b=c', flag: '' });
});
