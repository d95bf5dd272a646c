using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.Lab;

/// <summary>The README's main command: the demo runs, shows every step of a packet's life, and leaves nothing behind.</summary>
public sealed class DemoScriptTests
{
    [Fact]
    [Trait("case", "DEMO-01")]
    public async Task DEMO_01_the_readme_demo_shows_a_packets_whole_life_and_cleans_up()
    {
        var (exitCode, stdout, stderr) = await Shell.TryRunAsync(["bash", Path.Combine(Repo.Root, "scripts", "demo.sh")], TimeSpan.FromMinutes(5));

        Assert.True(exitCode == 0, $"demo.sh exited {exitCode}: {stderr}\n{stdout}");
        Assert.Contains("you are 10.244.1.2:", stdout, StringComparison.Ordinal);                   // the app saw the client pod's IP
        Assert.Matches(@"REDIRECT .*redir ports 15001", stdout);                                      // the client's capture rule
        Assert.Matches(@"TPROXY .*tcp dpt:15008 .*TPROXY redirect 0\.0\.0\.0:15008", stdout);        // the echo pod's HBONE capture rule
        Assert.Contains("direction=\"outbound\"", stdout, StringComparison.Ordinal);                 // node-a's access log
        Assert.Contains("direction=\"inbound\"", stdout, StringComparison.Ordinal);                  // node-b's access log
        Assert.Matches(@"default\s+client\s+10\.244\.1\.2\s+node-a\s+None\s+HBONE", stdout);        // hbone ztunnel workloads
        Assert.Contains("src.workload=\"outsider\"", stdout, StringComparison.Ordinal);              // plaintext on 15006
        Assert.Matches(@"spiffe://cluster\.local/ns/default/sa/echo\s+Available\s+serial [0-9A-F]+", stdout); // node-b's pod certificate, from the control plane's CA
        Assert.DoesNotContain("Aborted", stderr, StringComparison.Ordinal);
        Assert.Empty(await MeshLab.ExistingNamespacesAsync("demo"));
    }

    [Fact]
    public async Task The_waypoint_demo_shows_the_client_reaching_echo_through_the_waypoint_and_both_refusals_and_cleans_up()
    {
        var (exitCode, stdout, stderr) = await Shell.TryRunAsync(["bash", Path.Combine(Repo.Root, "scripts", "demo-waypoint.sh")], TimeSpan.FromMinutes(5));

        Assert.True(exitCode == 0, $"demo-waypoint.sh exited {exitCode}: {stderr}\n{stdout}");
        Assert.Contains("hello from echo; you are 10.244.1.2:", stdout, StringComparison.Ordinal);      // through the waypoint, as the client
        Assert.Contains("dst.addr=192.168.254.2:15088", stdout, StringComparison.Ordinal);             // node-a sent it to the waypoint
        Assert.Contains("dst.identity=\"spiffe://cluster.local/ns/default/sa/waypoint\"", stdout, StringComparison.Ordinal);
        Assert.Matches(@"peer=spiffe://cluster\.local/ns/default/sa/local-echo .*status=401", stdout); // the waypoint's policy
        Assert.Matches(@"sa/client denied by policy", stdout);                                          // around the waypoint: denied
        Assert.Empty(await MeshLab.ExistingNamespacesAsync("demowp"));
    }
}
