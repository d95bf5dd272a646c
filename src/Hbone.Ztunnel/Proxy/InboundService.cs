using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Proxy;

/// <summary>The service an inbound connection most likely reached, for its <c>destination_service*</c> labels.</summary>
internal static class InboundService
{
    /// <summary>
    /// As ztunnel's <c>guess_inbound_service</c>: the first service <paramref name="workload"/> backs whose target port is
    /// <paramref name="port"/> (the client dialed a pod address, so its own service VIP is not known here); null when none.
    /// </summary>
    public static Service? Guess(WorkloadSnapshot snapshot, Workload workload, int? port)
    {
        if (port is not { } target)
        {
            return null;
        }

        foreach (var (key, ports) in workload.Services)
        {
            foreach (var targetPort in ports.Values)
            {
                if (targetPort == target && Find(snapshot, key) is { } service)
                {
                    return service;
                }
            }
        }

        return null;
    }

    // The workload names its services "namespace/hostname".
    private static Service? Find(WorkloadSnapshot snapshot, string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var service = snapshot.FindServiceByHostname(slash < 0 ? key : key[(slash + 1)..]);
        return service is not null && string.Equals(service.Key, key, StringComparison.Ordinal) ? service : null;
    }
}
