using Hbone.Ztunnel.E2E.Tests.Infrastructure;
using Hbone.Ztunnel.Testing;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>
/// The pods' DNS through the real capture: the node agent's rules send a pod's port-53 traffic (to any IPv4 or IPv6 address) to the
/// ztunnel's proxy in the pod, which answers mesh names and forwards the rest to dnsmasq on node-a.
/// </summary>
public sealed class DnsTests(DnsTests.Fixture fixture) : IClassFixture<DnsTests.Fixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // Any resolver address: the capture redirects it. The pod has no route-specific reason to reach it.
    private const string AnyResolver = "10.96.0.53";
    private const string AnyResolver6 = "fd00:10:96::53";

    [Fact]
    [Trait("case", "INT-04")]
    public async Task A_pod_resolves_a_mesh_service_to_its_VIP_over_UDP_and_TCP()
    {
        Assert.Equal("10.96.0.10", (await fixture.DigAsync("echo.default.svc.cluster.local")).Trim());
        Assert.Equal("10.96.0.10", (await fixture.DigAsync("echo.default.svc.cluster.local", "+tcp")).Trim());
        Assert.Equal("10.96.0.10", (await fixture.DigAsync("echo")).Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public async Task A_pod_resolves_a_headless_service_to_its_pods()
    {
        Assert.Equal(fixture.Lab.Echo.Ip.ToString(), (await fixture.DigAsync("echo-pods.default.svc.cluster.local")).Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public async Task A_name_outside_the_mesh_gets_the_upstream_s_answer_over_UDP_and_TCP()
    {
        Assert.Equal("192.0.2.7", (await fixture.DigAsync("external.test")).Trim());
        Assert.Equal("192.0.2.7", (await fixture.DigAsync("external.test", "+tcp")).Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public async Task A_malformed_packet_gets_FORMERR_and_the_proxy_keeps_answering()
    {
        // A header promising one question, then a label that runs past the end.
        string reply = await MeshLab.ExecAsync(fixture.Lab.Client.Netns,
        [
            "python3", "-c",
            $"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10); s.sendto(bytes.fromhex('abcd010000010000000000003f6162'), ('{AnyResolver}', 53)); print(s.recv(512).hex())",
        ]);

        Assert.StartsWith("abcd", reply.Trim(), StringComparison.Ordinal);
        Assert.Equal(1, Convert.ToInt32(reply.Trim()[7..8], 16)); // RCODE nibble: FORMERR
        Assert.Equal("10.96.0.10", (await fixture.DigAsync("echo.default.svc.cluster.local")).Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public async Task A_dual_stack_service_s_AAAA_record_is_its_IPv6_VIP_over_UDP_and_TCP()
    {
        Assert.Equal(fixture.Lab.EchoVip6.Address.ToString(), (await fixture.DigRecordAsync(AnyResolver, "echo.default.svc.cluster.local", "AAAA")).Trim());
        Assert.Equal(fixture.Lab.EchoVip6.Address.ToString(), (await fixture.DigRecordAsync(AnyResolver, "echo.default.svc.cluster.local", "AAAA", "+tcp")).Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public async Task A_query_to_an_IPv6_resolver_address_is_answered_by_the_proxy_on_the_pod_s_IPv6_loopback()
    {
        // ip6tables REDIRECTs the pod's own packets to [::1]:15053; the upstream (IPv4 dnsmasq) knows no mesh name.
        Assert.Equal(fixture.Lab.EchoVip6.Address.ToString(), (await fixture.DigRecordAsync(AnyResolver6, "echo.default.svc.cluster.local", "AAAA")).Trim());
        Assert.Equal(fixture.Lab.EchoVip.Address.ToString(), (await fixture.DigRecordAsync(AnyResolver6, "echo.default.svc.cluster.local", "A", "+tcp")).Trim());
    }

    [Fact]
    [Trait("case", "INT-04")]
    public async Task A_malformed_query_over_TCP_gets_FORMERR_and_the_same_connection_keeps_being_answered()
    {
        // Two framed messages on one TCP connection: a header promising one question with a label running past the
        // end, then a well-formed A query for the echo service. Prints each reply as hex on its own line.
        const string Script = """
            import socket, struct, sys
            s = socket.create_connection((sys.argv[1], 53), timeout=10)
            def read(n):
                data = b''
                while len(data) < n:
                    chunk = s.recv(n - len(data))
                    if not chunk:
                        sys.exit('closed after %d of %d bytes' % (len(data), n))
                    data += chunk
                return data
            def ask(message):
                s.sendall(struct.pack('>H', len(message)) + message)
                return read(struct.unpack('>H', read(2))[0])
            name = b''.join(bytes([len(label)]) + label.encode() for label in 'echo.default.svc.cluster.local'.split('.'))
            print(ask(bytes.fromhex('abcd010000010000000000003f6162')).hex())
            print(ask(bytes.fromhex('123401000001000000000000') + name + b'\x00\x00\x01\x00\x01').hex())
            """;
        string[] replies = (await MeshLab.ExecAsync(fixture.Lab.Client.Netns, ["python3", "-c", Script, AnyResolver]))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Equal(2, replies.Length);
        Assert.StartsWith("abcd", replies[0], StringComparison.Ordinal);
        Assert.Equal(1, Convert.ToInt32(replies[0][7..8], 16)); // RCODE nibble: FORMERR
        Assert.StartsWith("1234", replies[1], StringComparison.Ordinal);
        Assert.Equal(0, Convert.ToInt32(replies[1][7..8], 16)); // NOERROR
        Assert.Equal("0001", replies[1][12..16]); // one answer
        Assert.EndsWith("0a60000a", replies[1], StringComparison.Ordinal); // its data: 10.96.0.10
        Assert.Equal("10.96.0.10", (await fixture.DigAsync("echo.default.svc.cluster.local", "+tcp")).Trim());
    }

    /// <summary>A lab whose config adds a headless service over the echo pod, with dnsmasq on node-a as the upstream.</summary>
    public sealed class Fixture : MeshLabFixture
    {
        private protected override async Task SetUpAsync(MeshLab lab)
        {
            string upstream = lab.NodeA.Ip.ToString();
            lab.Track(await Dnsmasq.StartAsync(lab.NodeA.Netns, upstream, new Dictionary<string, string> { ["external.test"] = "192.0.2.7" }, Deadline));
            string resolvConf = Path.Combine(lab.WorkDir, "resolv.conf");
            await File.WriteAllTextAsync(resolvConf, $"nameserver {upstream}\n");
            await Infrastructure.Mesh.StartAsync(lab, Deadline, new Dictionary<string, string?> { ["DNS_RESOLV_CONF"] = resolvConf }, AddHeadlessService);
        }

        /// <summary><c>dig +short</c> for an A record from the client pod, to a resolver address the capture redirects.</summary>
        internal Task<string> DigAsync(string name, params string[] options) => DigRecordAsync(AnyResolver, name, "A", options);

        /// <summary><c>dig +short</c> for a <paramref name="type"/> record from the client pod, to <paramref name="resolver"/>.</summary>
        internal async Task<string> DigRecordAsync(string resolver, string name, string type, params string[] options)
        {
            string[] command = ["ip", "netns", "exec", Lab.Client.Netns, "dig", $"@{resolver}", "+short", "+time=5", "+tries=2", .. options, name, type];
            var (exitCode, stdout, stderr) = await Shell.TryRunAsync(command);

            // dig reports a failed exchange (refused, timed out) on stdout: keep it in the message.
            return exitCode == 0 ? stdout : throw new InvalidOperationException($"'{string.Join(' ', command)}' exited with {exitCode}: {stdout.Trim()} {stderr.Trim()}");
        }

        private static string AddHeadlessService(string yaml)
        {
            const string EchoServices = "services: { \"default/echo.default.svc.cluster.local\": { 80: 8080 } }";
            if (!yaml.Contains(EchoServices, StringComparison.Ordinal))
            {
                throw new InvalidOperationException("the lab config no longer has the echo pod's services line");
            }

            return yaml.Replace(EchoServices, "services: { \"default/echo.default.svc.cluster.local\": { 80: 8080 }, \"default/echo-pods.default.svc.cluster.local\": { 8080: 8080 } }", StringComparison.Ordinal)
                .Replace("policies: []", "- name: echo-pods\n  namespace: default\n  hostname: echo-pods.default.svc.cluster.local\n  ports: { 8080: 8080 }\npolicies: []", StringComparison.Ordinal);
        }
    }
}
