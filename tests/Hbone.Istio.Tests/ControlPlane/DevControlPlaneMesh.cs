namespace Hbone.Istio.Tests.ControlPlane;

/// <summary>The mesh the control plane tests serve: two workloads on two nodes, one service, one WorkloadSelector policy.</summary>
internal static class DevControlPlaneMesh
{
    public const string ClientUid = "cluster1//v1/Pod/default/client";
    public const string EchoUid = "cluster1//v1/Pod/default/echo";
    public const string EchoService = "default/echo.default.svc.cluster.local";
    public const string EchoPolicy = "default/echo-allow";
    public const string ClientIdentity = "spiffe://cluster.local/ns/default/sa/client";
    public const string EchoIdentity = "spiffe://cluster.local/ns/default/sa/echo";

    private const string Service = """
        services:
        - name: echo
          namespace: default
          hostname: echo.default.svc.cluster.local
          vips: ["/10.96.0.10"]
          ports: { 80: 8080 }
          subjectAltNames: ["spiffe://cluster.local/ns/default/sa/echo"]
        """;

    public static string Yaml(string clientIp = "10.244.0.2", bool withService = true, string policyAction = "Allow") => $$"""
        workloads:
        - uid: {{ClientUid}}
          name: client
          namespace: default
          serviceAccount: client
          workloadIps: ["{{clientIp}}"]
          protocol: HBONE
          node: node-a
          labels: { app: client }
        - uid: {{EchoUid}}
          name: echo
          namespace: default
          serviceAccount: echo
          workloadIps: ["10.244.1.3", "fd00::3"]
          protocol: TCP
          node: node-b
          labels: { app: echo, tier: backend }
          waypoint: { destination: "net1/10.244.9.9", hboneMtlsPort: 15009 }
          services: { "default/echo.default.svc.cluster.local": { 80: 8080 } }
        {{(withService ? Service : "services: []")}}
        policies:
        - name: echo-allow
          namespace: default
          scope: WorkloadSelector
          selector: { labels: { app: echo } }
          action: {{policyAction}}
          rules: [[[ { principals: ["cluster.local/ns/default/sa/client"], namespaces: ["def*"], destinationPorts: [8080], notSourceIps: ["10.0.0.0/8"] } ]]]
        """;
}
