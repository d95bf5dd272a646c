using System.Net;
using System.Text.RegularExpressions;

namespace Hbone.Cli.Tests.Infrastructure;

/// <summary>Arguments and startup parsing shared by the <c>connect</c> and <c>forward</c> tests.</summary>
internal static partial class ClientCommands
{
    /// <summary><c>COMMAND --via VIA --target TARGET</c> with the default/client SVID, trusting the fixture's CA.</summary>
    public static string[] ClientArgs(this DevelopmentCertificates certs, string command, string via, string target, params string[] extra) =>
        [command, "--via", via, "--target", target, "--cert", certs.File("client.pem"), "--key", certs.File("client.key"), "--ca", certs.File("ca.pem"), .. extra];

    /// <summary>Waits for <c>hbone forward: listening on IP:PORT -&gt; TARGET via VIA</c> and returns the bound endpoint.</summary>
    public static async Task<IPEndPoint> WaitForForwardListeningAsync(this HboneProcess forward)
    {
        var line = await forward.WaitForStderrAsync(l => ForwardListeningLine().IsMatch(l));
        return IPEndPoint.Parse(ForwardListeningLine().Match(line).Groups[1].Value);
    }

    /// <summary>An address nothing listens on: bound once to learn a free port, then released.</summary>
    public static string ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener.LocalEndpoint.ToString()!;
    }

    /// <summary>Asserts the documented error form: exit <paramref name="expectedCode"/>, exactly one stderr line with the prefix, no stack trace.</summary>
    public static void AssertOneLine(int code, IReadOnlyList<string> stdout, IReadOnlyList<string> stderr, int expectedCode, string prefix, params string[] mustName)
    {
        var all = $"exit {code}{Environment.NewLine}stdout: {string.Join(Environment.NewLine, stdout)}{Environment.NewLine}stderr: {string.Join(Environment.NewLine, stderr)}";
        Assert.True(code == expectedCode, all);
        Assert.True(stderr.Count == 1, all);
        Assert.StartsWith(prefix, stderr[0], StringComparison.Ordinal);
        foreach (var fragment in mustName)
        {
            Assert.Contains(fragment, stderr[0], StringComparison.Ordinal);
        }

        Assert.DoesNotContain(stderr.Concat(stdout), l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^hbone forward: listening on (\S+) -> (\S+) via (\S+)$")]
    private static partial Regex ForwardListeningLine();
}
