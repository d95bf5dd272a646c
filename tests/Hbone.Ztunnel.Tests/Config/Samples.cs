namespace Hbone.Ztunnel.Tests.Config;

internal static class Samples
{
    /// <summary>The example of hbone-reference.md §5, verbatim.</summary>
    public const string ReferenceExample = """
        workloads:
        - uid: cluster1//v1/Pod/default/client
          name: client
          namespace: default
          serviceAccount: client
          workloadIps: ["10.244.0.2"]
          protocol: HBONE            # or TCP (not in the mesh)
          node: node-a
          services: { "default/echo.default.svc.cluster.local": { 80: 8080 } }
        services:
        - name: echo
          namespace: default
          hostname: echo.default.svc.cluster.local
          vips: ["/10.96.0.10"]      # network/ip
          ports: { 80: 8080 }
          subjectAltNames: ["spiffe://cluster.local/ns/default/sa/echo"]
        policies:
        - name: deny-9999
          namespace: default
          scope: Namespace           # or Global, WorkloadSelector
          action: Allow              # or Deny
          rules: [[[ { notDestinationPorts: [9999] } ]]]   # rules -> clauses -> matches
        """;
}
