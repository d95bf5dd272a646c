using System.Collections;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.Hosting;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Tests.Hosting;

/// <summary>What the ztunnel warns about at start, read from the same variables as <see cref="ZtunnelConfig.FromEnvironment(IDictionary)"/>.</summary>
public sealed class StartupWarningsTests
{
    [Fact]
    public void ZT_ENV_CP_07_istiods_CA_without_NODE_NAME_starts_with_one_warning_that_prefetch_and_the_readiness_wait_are_off()
    {
        ZtunnelConfig config = ZtunnelConfig.FromEnvironment(new Hashtable { ["XDS_ADDRESS"] = "https://cp:15012", ["CA_ADDRESS"] = "https://ca:15012" });
        var logger = new RecordingLogger();

        StartupWarnings.Log(config, logger);

        var (level, message) = Assert.Single(logger.Lines);
        Assert.Equal(LogLevel.Warning, level);
        Assert.Equal(
            "NODE_NAME is not set: pod certificates are not prefetched from the CA at https://ca:15012/, and readiness does not wait for them; " +
            "each is fetched when a connection first needs it",
            message);
    }

    [Theory]
    [InlineData("CA_ADDRESS", "https://ca:15012", "NODE_NAME", "node-a")]
    [InlineData("LOCAL_XDS_PATH", "/etc/zt.yaml", null, null)]
    [InlineData("XDS_ADDRESS", "https://cp:15012", "CERT_DIR", "/certs")]
    public void ZT_ENV_CP_07_with_NODE_NAME_or_without_istiods_CA_nothing_is_warned(string name, string value, string? otherName, string? otherValue)
    {
        var env = new Hashtable { [name] = value };
        if (otherName is not null)
        {
            env[otherName] = otherValue;
        }

        var logger = new RecordingLogger();

        StartupWarnings.Log(ZtunnelConfig.FromEnvironment(env), logger);

        Assert.Empty(logger.Lines);
    }
}
