using Hbone.Ztunnel.Config;
using Microsoft.Extensions.Logging;

namespace Hbone.Ztunnel.Hosting;

/// <summary>Settings the ztunnel accepts, as ztunnel does, but that serve less than an operator may expect: each logged once at start.</summary>
internal static partial class StartupWarnings
{
    /// <summary>Logs a warning for each such setting in <paramref name="config"/>.</summary>
    public static void Log(ZtunnelConfig config, ILogger logger)
    {
        // Without the node's name no workload is known to be local, so istiod's certificates cannot be fetched ahead.
        if (config.CaAddress is not null && config.NodeName is null)
        {
            NoNodeName(logger, config.CaAddress);
        }
    }

    [LoggerMessage(1, LogLevel.Warning,
        "NODE_NAME is not set: pod certificates are not prefetched from the CA at {CaAddress}, and readiness does not wait for them; " +
        "each is fetched when a connection first needs it")]
    private static partial void NoNodeName(ILogger logger, Uri caAddress);
}
