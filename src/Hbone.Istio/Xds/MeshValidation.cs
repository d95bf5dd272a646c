using Google.Protobuf;
using Hbone.Istio.Protos.Security;
using Hbone.Istio.Protos.Workload;
using SecurityAddress = Hbone.Istio.Protos.Security.Address;
using WorkloadAddress = Hbone.Istio.Protos.Workload.Address;

namespace Hbone.Istio.Xds;

/// <summary>The checks a resource must pass before it enters the mesh state; each returns why not, or null.</summary>
internal static class MeshValidation
{
    public static string? Check(WorkloadAddress address) => address.TypeCase switch
    {
        WorkloadAddress.TypeOneofCase.Workload => Check(address.Workload),
        WorkloadAddress.TypeOneofCase.Service => Check(address.Service),
        _ => "address has neither workload nor service",
    };

    public static string? Check(Workload workload)
    {
        if (workload.Uid.Length == 0)
        {
            return "workload has no uid";
        }

        foreach (ByteString ip in workload.Addresses)
        {
            if (!IsIp(ip))
            {
                return $"workload address of {ip.Length} bytes (want 4 or 16)";
            }
        }

        return Check(workload.Waypoint, "waypoint") ?? Check(workload.NetworkGateway, "network gateway");
    }

    public static string? Check(Service service)
    {
        if (service.Hostname.Length == 0 || service.Namespace.Length == 0)
        {
            return "service needs a hostname and a namespace";
        }

        foreach (NetworkAddress address in service.Addresses)
        {
            if (Check(address, "service") is { } error)
            {
                return error;
            }
        }

        return Check(service.Waypoint, "waypoint");
    }

    public static string? Check(Authorization policy)
    {
        if (policy.Name.Length == 0 || policy.Namespace.Length == 0)
        {
            return "policy needs a name and a namespace";
        }

        foreach (Rule rule in policy.Rules)
        {
            foreach (Clause clause in rule.Clauses)
            {
                foreach (Match match in clause.Matches)
                {
                    string? error = CheckAll(match.SourceIps, "source_ips") ?? CheckAll(match.NotSourceIps, "not_source_ips")
                        ?? CheckAll(match.DestinationIps, "destination_ips") ?? CheckAll(match.NotDestinationIps, "not_destination_ips");
                    if (error is not null)
                    {
                        return error;
                    }
                }
            }
        }

        return null;
    }

    private static string? CheckAll(IEnumerable<SecurityAddress> prefixes, string field)
    {
        foreach (SecurityAddress prefix in prefixes)
        {
            if (!IsIp(prefix.Address_))
            {
                return $"{field} address of {prefix.Address_.Length} bytes (want 4 or 16)";
            }

            if (prefix.Length > prefix.Address_.Length * 8)
            {
                return $"{field} prefix length {prefix.Length} is out of range for a {prefix.Address_.Length * 8}-bit address";
            }
        }

        return null;
    }

    private static string? Check(GatewayAddress? gateway, string what) =>
        gateway?.DestinationCase == GatewayAddress.DestinationOneofCase.Address ? Check(gateway.Address, what) : null;

    private static string? Check(NetworkAddress address, string what)
    {
        if (!IsIp(address.Address))
        {
            return $"{what} address of {address.Address.Length} bytes (want 4 or 16)";
        }

        return address.HasLength && address.Length > address.Address.Length * 8
            ? $"{what} prefix length {address.Length} is out of range for a {address.Address.Length * 8}-bit address"
            : null;
    }

    private static bool IsIp(ByteString bytes) => bytes.Length is 4 or 16;
}
