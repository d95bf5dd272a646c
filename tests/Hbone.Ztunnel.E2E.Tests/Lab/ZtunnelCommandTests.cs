using Hbone.Ztunnel.E2E.Tests.Infrastructure;

namespace Hbone.Ztunnel.E2E.Tests.Lab;

/// <summary>The ztunnel as a command: help, and bad input answered with one line and exit code 1, never a stack trace.</summary>
public sealed class ZtunnelCommandTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    [Trait("case", "ZT-CLI-01")]
    public async Task Help_names_the_configuration_and_exits_0()
    {
        var (exitCode, stdout, stderr) = await Shell.TryRunAsync([Repo.Program("Hbone.Ztunnel"), "--help"], Deadline);

        Assert.Equal(0, exitCode);
        Assert.Contains("LOCAL_XDS_PATH", stdout, StringComparison.Ordinal);
        Assert.Contains("INPOD_UDS", stdout, StringComparison.Ordinal);
        Assert.Equal(string.Empty, stderr);
    }

    [Theory]
    [Trait("case", "ZT-CLI-02")]
    [InlineData("ADMIN_PORT", "abc", "hbone-ztunnel: error: ADMIN_PORT: 'abc' is not an integer in [1, 65535]")]
    [InlineData("LOCAL_XDS_PATH", "/nonexistent/config.yaml", "hbone-ztunnel: error: cannot start: ")]
    [InlineData("CA_ROOT_CERT", "/nonexistent/ca.pem", "hbone-ztunnel: error: ")]
    public async Task Bad_configuration_is_one_line_and_exit_1(string variable, string value, string expectedStart)
    {
        var (exitCode, stdout, stderr) = await Shell.TryRunAsync(["env", $"{variable}={value}", Repo.Program("Hbone.Ztunnel")], Deadline);

        Assert.Equal(1, exitCode);
        Assert.Equal(string.Empty, stdout);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(expectedStart, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }
}
