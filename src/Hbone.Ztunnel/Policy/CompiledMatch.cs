using System.Net;
using Hbone.Identity;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Policy;

/// <summary>A <see cref="PolicyMatch"/> turned into arrays and parsed patterns once, so evaluation allocates nothing.</summary>
/// <remarks>
/// Identity fields without an identity (plaintext) or without an Istio-shaped identity: the positive lists never hold;
/// the <c>not*</c> lists are "unknown" and fail closed: they hold in a DENY policy and do not hold in an ALLOW policy.
/// (ztunnel lets a <c>not*</c> list hold for plaintext in both actions; we differ for ALLOW only, towards denial.)
/// </remarks>
internal sealed class CompiledMatch
{
    private const int SpiffeSchemeLength = 9; // "spiffe://"

    private readonly StringPattern[] _principals;
    private readonly StringPattern[] _notPrincipals;
    private readonly StringPattern[] _namespaces;
    private readonly StringPattern[] _notNamespaces;
    private readonly ServiceAccountPattern[] _serviceAccounts;
    private readonly ServiceAccountPattern[] _notServiceAccounts;
    private readonly IPNetwork[] _sourceIps;
    private readonly IPNetwork[] _notSourceIps;
    private readonly IPNetwork[] _destinationIps;
    private readonly IPNetwork[] _notDestinationIps;
    private readonly int[] _destinationPorts;
    private readonly int[] _notDestinationPorts;
    private readonly bool _requiresL7;

    public CompiledMatch(PolicyMatch match, string policyNamespace)
    {
        _principals = Principals(match.Principals);
        _notPrincipals = Principals(match.NotPrincipals);
        _namespaces = Patterns(match.Namespaces);
        _notNamespaces = Patterns(match.NotNamespaces);
        _serviceAccounts = ServiceAccounts(match.ServiceAccounts, policyNamespace);
        _notServiceAccounts = ServiceAccounts(match.NotServiceAccounts, policyNamespace);
        _sourceIps = Networks(match.SourceIps);
        _notSourceIps = Networks(match.NotSourceIps);
        _destinationIps = Networks(match.DestinationIps);
        _notDestinationIps = Networks(match.NotDestinationIps);
        _destinationPorts = [.. match.DestinationPorts];
        _notDestinationPorts = [.. match.NotDestinationPorts];
        _requiresL7 = match.RequiresL7;
    }

    /// <summary>True when every set field holds for <paramref name="c"/>.</summary>
    /// <param name="c">The connection.</param>
    /// <param name="inDenyPolicy">The action of the owning policy: unknowns (L7, missing identity) resolve towards denial.</param>
    public bool Holds(ConnectionAttributes c, bool inDenyPolicy)
    {
        if (_requiresL7)
        {
            // L7 attributes cannot be seen at L4: a DENY always matches, an ALLOW never does (fail closed).
            return inDenyPolicy;
        }

        SpiffeId? id = c.SourceIdentity;
        if (_principals.Length > 0 && (id is null || !AnyPrincipal(_principals, id)))
        {
            return false;
        }

        if (_notPrincipals.Length > 0 && (id is null ? !inDenyPolicy : AnyPrincipal(_notPrincipals, id)))
        {
            return false;
        }

        IstioIdentity? istio = c.SourceIstioIdentity;
        if (_namespaces.Length > 0 && (istio is null || !Any(_namespaces, istio.Value.Namespace)))
        {
            return false;
        }

        if (_notNamespaces.Length > 0 && (istio is null ? !inDenyPolicy : Any(_notNamespaces, istio.Value.Namespace)))
        {
            return false;
        }

        if (_serviceAccounts.Length > 0 && (istio is null || !AnyServiceAccount(_serviceAccounts, istio.Value)))
        {
            return false;
        }

        if (_notServiceAccounts.Length > 0 && (istio is null ? !inDenyPolicy : AnyServiceAccount(_notServiceAccounts, istio.Value)))
        {
            return false;
        }

        if (_sourceIps.Length > 0 && !AnyNetwork(_sourceIps, c.SourceIp))
        {
            return false;
        }

        if (AnyNetwork(_notSourceIps, c.SourceIp))
        {
            return false;
        }

        if (_destinationIps.Length > 0 && !AnyNetwork(_destinationIps, c.DestinationIp))
        {
            return false;
        }

        if (AnyNetwork(_notDestinationIps, c.DestinationIp))
        {
            return false;
        }

        if (_destinationPorts.Length > 0 && Array.IndexOf(_destinationPorts, c.DestinationPort) < 0)
        {
            return false;
        }

        return Array.IndexOf(_notDestinationPorts, c.DestinationPort) < 0;
    }

    private static bool AnyPrincipal(StringPattern[] patterns, SpiffeId id)
    {
        // Istio compares principals without the scheme: cluster.local/ns/default/sa/client.
        ReadOnlySpan<char> principal = id.ToString().AsSpan(SpiffeSchemeLength);
        foreach (StringPattern pattern in patterns)
        {
            if (pattern.Matches(principal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Any(StringPattern[] patterns, string value)
    {
        foreach (StringPattern pattern in patterns)
        {
            if (pattern.Matches(value))
            {
                return true;
            }
        }

        return false;
    }

    private static bool AnyServiceAccount(ServiceAccountPattern[] patterns, IstioIdentity istio)
    {
        foreach (ServiceAccountPattern pattern in patterns)
        {
            if (pattern.Namespace.Matches(istio.Namespace) && pattern.Name.Matches(istio.ServiceAccount))
            {
                return true;
            }
        }

        return false;
    }

    private static bool AnyNetwork(IPNetwork[] networks, IPAddress address)
    {
        foreach (IPNetwork network in networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static StringPattern[] Patterns(IReadOnlyList<string> values)
    {
        var patterns = new StringPattern[values.Count];
        for (int i = 0; i < patterns.Length; i++)
        {
            patterns[i] = StringPattern.Parse(values[i]);
        }

        return patterns;
    }

    private static StringPattern[] Principals(IReadOnlyList<string> values)
    {
        // Both "spiffe://cluster.local/ns/a/sa/b" and "cluster.local/ns/a/sa/b" are accepted in a policy.
        var patterns = new StringPattern[values.Count];
        for (int i = 0; i < patterns.Length; i++)
        {
            string value = values[i];
            patterns[i] = StringPattern.Parse(value.StartsWith("spiffe://", StringComparison.Ordinal) ? value[SpiffeSchemeLength..] : value);
        }

        return patterns;
    }

    // serviceAccounts entries are "namespace/name" (as Istio's serviceAccounts field); a bare "name" means the policy's
    // own namespace, as istiod does when it converts the field for ztunnel. Each part is a string match.
    private static ServiceAccountPattern[] ServiceAccounts(IReadOnlyList<string> values, string policyNamespace)
    {
        var patterns = new ServiceAccountPattern[values.Count];
        for (int i = 0; i < patterns.Length; i++)
        {
            string value = values[i];
            int slash = value.IndexOf('/', StringComparison.Ordinal);
            patterns[i] = slash < 0
                ? new ServiceAccountPattern(StringPattern.Parse(policyNamespace), StringPattern.Parse(value))
                : new ServiceAccountPattern(StringPattern.Parse(value[..slash]), StringPattern.Parse(value[(slash + 1)..]));
        }

        return patterns;
    }

    private static IPNetwork[] Networks(IReadOnlyList<IPNetwork> values)
    {
        var networks = new IPNetwork[values.Count];
        for (int i = 0; i < networks.Length; i++)
        {
            IPNetwork network = values[i];

            // ::ffff:a.b.c.d/n (n >= 96) is the IPv4 network a.b.c.d/(n-96); connections are normalized to IPv4 too.
            networks[i] = network.BaseAddress.IsIPv4MappedToIPv6 && network.PrefixLength >= 96
                ? new IPNetwork(network.BaseAddress.MapToIPv4(), network.PrefixLength - 96)
                : network;
        }

        return networks;
    }

    private readonly record struct ServiceAccountPattern(StringPattern Namespace, StringPattern Name);
}
