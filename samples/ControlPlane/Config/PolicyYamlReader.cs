using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Hbone.Istio.Protos.Security;
using YamlDotNet.RepresentationModel;

namespace DevControlPlane.Config;

/// <summary>Reads one entry of <c>policies</c>: <c>rules</c> are rules -> clauses -> matches, as in ztunnel's local config.</summary>
internal static class PolicyYamlReader
{
    public static MeshPolicy Read(YamlNodeReader reader, YamlNode node, string path)
    {
        YamlMappingNode map = reader.Mapping(node, path);
        var policy = new Authorization
        {
            Name = reader.Required(map, "name", path),
            Namespace = reader.Required(map, "namespace", path),
            Scope = reader.Required(map, "scope", path) switch
            {
                "Global" => Scope.Global,
                "Namespace" => Scope.Namespace,
                "WorkloadSelector" => Scope.WorkloadSelector,
                var other => throw reader.Fail(map, $"{path}.scope", $"unknown scope '{other}' (expected Global, Namespace or WorkloadSelector)"),
            },
            Action = reader.Required(map, "action", path) switch
            {
                "Allow" => Hbone.Istio.Protos.Security.Action.Allow,
                "Deny" => Hbone.Istio.Protos.Security.Action.Deny,
                var other => throw reader.Fail(map, $"{path}.action", $"unknown action '{other}' (expected Allow or Deny)"),
            },
        };

        bool allow = policy.Action == Hbone.Istio.Protos.Security.Action.Allow;
        foreach (var rule in reader.OptionalList(map, "rules", path, (r, rp) => ReadRule(reader, r, rp, policy.Namespace, allow)))
        {
            if (rule is not null)
            {
                policy.Rules.Add(rule);
            }
        }

        IReadOnlyDictionary<string, string>? selector = null;
        if (YamlNodeReader.Get(map, "selector") is { } s)
        {
            YamlMappingNode selectorMap = reader.Mapping(s, $"{path}.selector");
            selector = YamlNodeReader.Get(selectorMap, "labels") is { } labels ? reader.StringMap(labels, $"{path}.selector.labels") : new Dictionary<string, string>();
        }

        if (policy.Scope == Scope.WorkloadSelector && selector is null)
        {
            throw reader.Fail(map, $"{path}.scope", "scope WorkloadSelector needs a 'selector'");
        }

        return new MeshPolicy(policy, selector);
    }

    // A match with keys L4 cannot check (methods, paths…) is handled as istiod does: an Allow rule holding one is dropped
    // (it can never be proven to match), a Deny rule keeps only its L4 part (so it denies more, never less).
    private static Rule? ReadRule(YamlNodeReader reader, YamlNode node, string path, string policyNamespace, bool allow)
    {
        var rule = new Rule();
        bool hasL7 = false;
        foreach (var clauseMatches in reader.List(node, path, (c, cp) => reader.List(c, cp, (m, mp) => ReadMatch(reader, m, mp, policyNamespace))))
        {
            var clause = new Clause();
            foreach (var (match, l7) in clauseMatches)
            {
                clause.Matches.Add(match);
                hasL7 |= l7;
            }

            rule.Clauses.Add(clause);
        }

        return allow && hasL7 ? null : rule;
    }

    private static (Match Match, bool RequiresL7) ReadMatch(YamlNodeReader reader, YamlNode node, string path, string policyNamespace)
    {
        var match = new Match();
        bool requiresL7 = false;
        foreach (var (key, _, value) in reader.Entries(node, path))
        {
            string p = $"{path}.{key}";
            List<StringMatch> Strings() => reader.List(value, p, (n, np) => StringPattern(reader, n, np));
            List<ServiceAccountMatch> Accounts() => reader.List(value, p, (n, np) => ServiceAccount(reader.Scalar(n, np), policyNamespace));
            List<Address> Cidrs() => reader.List(value, p, (n, np) => CidrAddress(reader.Cidr(n, np)));
            List<uint> Ports() => reader.List(value, p, reader.Port);
            switch (key)
            {
                case "namespaces": match.Namespaces.AddRange(Strings()); break;
                case "notNamespaces": match.NotNamespaces.AddRange(Strings()); break;
                case "principals": match.Principals.AddRange(Strings()); break;
                case "notPrincipals": match.NotPrincipals.AddRange(Strings()); break;
                case "serviceAccounts": match.ServiceAccounts.AddRange(Accounts()); break;
                case "notServiceAccounts": match.NotServiceAccounts.AddRange(Accounts()); break;
                case "sourceIps": match.SourceIps.AddRange(Cidrs()); break;
                case "notSourceIps": match.NotSourceIps.AddRange(Cidrs()); break;
                case "destinationIps": match.DestinationIps.AddRange(Cidrs()); break;
                case "notDestinationIps": match.NotDestinationIps.AddRange(Cidrs()); break;
                case "destinationPorts": match.DestinationPorts.AddRange(Ports()); break;
                case "notDestinationPorts": match.NotDestinationPorts.AddRange(Ports()); break;
                default: requiresL7 = true; break;
            }
        }

        return (match, requiresL7);
    }

    /// <summary>Exact, <c>abc*</c> (prefix), <c>*abc</c> (suffix) or <c>*</c> (presence); never a wildcard in the middle.</summary>
    private static StringMatch StringPattern(YamlNodeReader reader, YamlNode node, string path)
    {
        string value = reader.Scalar(node, path);
        int stars = value.Count(c => c == '*');
        return value switch
        {
            "*" => new StringMatch { Presence = new Empty() },
            _ when stars == 0 && value.Length > 0 => new StringMatch { Exact = value },
            _ when stars == 1 && value.EndsWith('*') => new StringMatch { Prefix = value[..^1] },
            _ when stars == 1 && value.StartsWith('*') => new StringMatch { Suffix = value[1..] },
            _ => throw reader.Fail(node, path, $"'{value}' is not an exact, prefix (abc*), suffix (*abc) or presence (*) match"),
        };
    }

    private static Address CidrAddress((System.Net.IPAddress Address, uint Length) cidr) =>
        new() { Address_ = ByteString.CopyFrom(cidr.Address.GetAddressBytes()), Length = cidr.Length };

    // "namespace/name", or a bare "name" in the policy's own namespace (as istiod converts Istio's serviceAccounts field).
    private static ServiceAccountMatch ServiceAccount(string value, string policyNamespace)
    {
        int slash = value.IndexOf('/', StringComparison.Ordinal);
        return slash < 0
            ? new ServiceAccountMatch { Namespace = policyNamespace, ServiceAccount = value }
            : new ServiceAccountMatch { Namespace = value[..slash], ServiceAccount = value[(slash + 1)..] };
    }
}
