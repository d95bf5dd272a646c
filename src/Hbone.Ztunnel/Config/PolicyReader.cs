using Hbone.Ztunnel.State;
using YamlDotNet.RepresentationModel;
using static Hbone.Ztunnel.Config.LocalConfigParser;

namespace Hbone.Ztunnel.Config;

/// <summary>Reads one entry of <c>policies</c>: <c>rules</c> are rules -> clauses -> matches.</summary>
internal static class PolicyReader
{
    public static AuthorizationPolicy Read(YamlReader reader, YamlNode node, string path)
    {
        var e = reader.Entries(reader.Mapping(node, path), path);
        string name = reader.NonEmptyString(Required(reader, e, "name", node, path), $"{path}.name");
        string ns = reader.NonEmptyString(Required(reader, e, "namespace", node, path), $"{path}.namespace");
        YamlNode scopeNode = Required(reader, e, "scope", node, path);
        PolicyScope scope = reader.String(scopeNode, $"{path}.scope") switch
        {
            "Global" => PolicyScope.Global,
            "Namespace" => PolicyScope.Namespace,
            "WorkloadSelector" => PolicyScope.WorkloadSelector,
            var other => throw reader.Fail(scopeNode, $"{path}.scope", $"unknown scope '{other}' (expected Global, Namespace or WorkloadSelector)"),
        };
        YamlNode actionNode = Required(reader, e, "action", node, path);
        PolicyAction action = reader.String(actionNode, $"{path}.action") switch
        {
            "Allow" => PolicyAction.Allow,
            "Deny" => PolicyAction.Deny,
            var other => throw reader.Fail(actionNode, $"{path}.action", $"unknown action '{other}' (expected Allow or Deny)"),
        };

        IReadOnlyList<PolicyRule> rules = Optional(e, "rules") is { } r
            ? reader.List(r, $"{path}.rules", (rule, rulePath) => new PolicyRule(
                reader.List(rule, rulePath, (clause, clausePath) => new PolicyClause(
                    reader.List(clause, clausePath, (match, matchPath) => ReadMatch(reader, match, matchPath))))))
            : [];

        IReadOnlyDictionary<string, string>? selector = null;
        if (Optional(e, "selector") is { } s)
        {
            var se = reader.Entries(reader.Mapping(s, $"{path}.selector"), $"{path}.selector");
            selector = Optional(se, "labels") is { } labels ? reader.StringMap(labels, $"{path}.selector.labels") : new Dictionary<string, string>();
        }

        if (scope == PolicyScope.WorkloadSelector && selector is null)
        {
            throw reader.Fail(scopeNode, $"{path}.scope", "scope WorkloadSelector needs a 'selector'");
        }

        return new AuthorizationPolicy(name, ns, scope, action, rules, selector);
    }

    private static PolicyMatch ReadMatch(YamlReader reader, YamlNode node, string path)
    {
        var match = new PolicyMatch();
        foreach (var (key, (_, value)) in reader.Entries(reader.Mapping(node, path), path))
        {
            string p = $"{path}.{key}";
            IReadOnlyList<string> Strings() => reader.List(value, p, (n, np) => StringMatch(reader, n, np));
            IReadOnlyList<System.Net.IPNetwork> Cidrs() => reader.List(value, p, reader.Cidr);
            IReadOnlyList<int> Ports() => reader.List(value, p, reader.Port);
            match = key switch
            {
                "namespaces" => match with { Namespaces = Strings() },
                "notNamespaces" => match with { NotNamespaces = Strings() },
                "principals" => match with { Principals = Strings() },
                "notPrincipals" => match with { NotPrincipals = Strings() },
                "serviceAccounts" => match with { ServiceAccounts = Strings() },
                "notServiceAccounts" => match with { NotServiceAccounts = Strings() },
                "sourceIps" => match with { SourceIps = Cidrs() },
                "notSourceIps" => match with { NotSourceIps = Cidrs() },
                "destinationIps" => match with { DestinationIps = Cidrs() },
                "notDestinationIps" => match with { NotDestinationIps = Cidrs() },
                "destinationPorts" => match with { DestinationPorts = Ports() },
                "notDestinationPorts" => match with { NotDestinationPorts = Ports() },

                // Anything else (methods, paths, hosts…) cannot be checked at L4: kept as a flag so the engine fails closed.
                _ => match with { RequiresL7 = true },
            };
        }

        return match;
    }

    /// <summary>Exact, <c>abc*</c>, <c>*abc</c> or <c>*</c>; never a wildcard in the middle.</summary>
    private static string StringMatch(YamlReader reader, YamlNode node, string path)
    {
        string value = reader.NonEmptyString(node, path);
        int star = value.IndexOf('*', StringComparison.Ordinal);
        bool valid = star < 0 || value == "*" || (value.Count(c => c == '*') == 1 && (star == 0 || star == value.Length - 1));
        return valid ? value : throw reader.Fail(node, path, $"'{value}' is not an exact, prefix (abc*), suffix (*abc) or presence (*) match");
    }
}
