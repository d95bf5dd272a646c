namespace Hbone.Ztunnel.E2E.Tests.Infrastructure;

/// <summary>The policy sections the tests put into the lab's local config (ztunnel's YAML format).</summary>
internal static class LabPolicies
{
    /// <summary>One namespace-wide policy whose single match is the client pod's principal.</summary>
    public static string ForClientPrincipal(string name, string action) =>
        $$"""
        policies:
        - name: {{name}}
          namespace: default
          scope: Namespace
          action: {{action}}
          rules: [[[ { principals: ["cluster.local/ns/default/sa/client"] } ]]]
        """;

    /// <summary>DENY for the client's principal.</summary>
    public static string DenyClient => ForClientPrincipal("deny-client", "Deny");

    /// <summary>ALLOW for the client's principal only.</summary>
    public static string AllowClient => ForClientPrincipal("allow-client", "Allow");
}
