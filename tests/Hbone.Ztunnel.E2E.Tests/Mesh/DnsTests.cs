using Hbone.Ztunnel.E2E.Tests.Infrastructure;
using Hbone.Ztunnel.Testing;

namespace Hbone.Ztunnel.E2E.Tests.MeshTests;

/// <summary>
/// The pods' DNS through the real capture: the node agent's rules send a pod's port-53 traffic (to any address) to the
/// ztunnel's proxy in the pod, which answers mesh names and forwards the rest to dnsmasq on node-a.
/// </summary>
public sealed class DnsTests(DnsTests.Fixture fixture) : IClassFixture<DnsTests.Fixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // Any resolver address: the capture redirects it. The pod has no route-specific reason to reach it.
    private const string AnyResolver = "10.96.0.53";

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

        /// <summary><c>dig +short</c> from the client pod, to a resolver address the capture redirects.</summary>
        internal async Task<string> DigAsync(string name, params string[] options)
        {
            string[] command = ["ip", "netns", "exec", Lab.Client.Netns, "dig", $"@{AnyResolver}", "+short", "+time=5", "+tries=2", .. options, name, "A"];
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
