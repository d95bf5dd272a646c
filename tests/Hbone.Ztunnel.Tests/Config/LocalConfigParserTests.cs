using System.Net;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.Config;

public sealed class LocalConfigParserTests
{
    [Fact]
    public void Parses_the_reference_example_exactly()
    {
        LocalConfig config = LocalConfigParser.Parse(Samples.ReferenceExample);

        Workload w = Assert.Single(config.Workloads);
        Assert.Equal("cluster1//v1/Pod/default/client", w.Uid);
        Assert.Equal("client", w.Name);
        Assert.Equal("default", w.Namespace);
        Assert.Equal("client", w.ServiceAccount);
        Assert.Equal([IPAddress.Parse("10.244.0.2")], w.WorkloadIps);
        Assert.Equal(WorkloadProtocol.Hbone, w.Protocol);
        Assert.Equal("node-a", w.Node);
        Assert.Equal("", w.Network);
        Assert.Null(w.Waypoint);
        var ports = Assert.Single(w.Services);
        Assert.Equal("default/echo.default.svc.cluster.local", ports.Key);
        Assert.Equal(8080, ports.Value[80]);

        Service s = Assert.Single(config.Services);
        Assert.Equal(("echo", "default", "echo.default.svc.cluster.local"), (s.Name, s.Namespace, s.Hostname));
        Assert.Equal([new NetworkAddress("", IPAddress.Parse("10.96.0.10"))], s.Vips);
        Assert.Equal(8080, Assert.Single(s.Ports).Value);
        Assert.Equal(80, Assert.Single(s.Ports).Key);
        Assert.Equal(["spiffe://cluster.local/ns/default/sa/echo"], s.SubjectAltNames);

        AuthorizationPolicy p = Assert.Single(config.Policies);
        Assert.Equal(("deny-9999", "default", PolicyScope.Namespace, PolicyAction.Allow), (p.Name, p.Namespace, p.Scope, p.Action));
        Assert.Null(p.Selector);
        PolicyMatch m = Assert.Single(Assert.Single(Assert.Single(p.Rules).Clauses).Matches);
        Assert.Equal([9999], m.NotDestinationPorts);
        Assert.Empty(m.DestinationPorts);
        Assert.False(m.RequiresL7);
    }

    [Fact]
    public void Parses_every_match_field_and_optional_workload_fields()
    {
        const string yaml = """
            workloads:
            - uid: u1
              name: w
              namespace: ns
              serviceAccount: sa
              workloadIps: ["10.0.0.1", "fd00::1"]
              protocol: TCP
              network: net1
              waypoint: { destination: "net1/10.0.0.9", hboneMtlsPort: 15009 }
              canonicalName: app
              canonicalRevision: v1
              workloadName: app-deploy
              clusterId: c1
              labels: { app: web }
            - uid: u2
              name: w2
              namespace: ns
              serviceAccount: sa
              waypoint: { address: "10.0.0.8" }
            policies:
            - name: p
              namespace: ns
              scope: WorkloadSelector
              action: Deny
              selector: { labels: { app: web } }
              rules:
              - - - namespaces: ["a", "b*", "*c", "*"]
                    notNamespaces: ["x"]
                    principals: ["cluster.local/ns/a/sa/b"]
                    notPrincipals: ["p*"]
                    serviceAccounts: ["sa1"]
                    notServiceAccounts: ["sa2"]
                    sourceIps: ["10.0.0.0/8", "10.1.2.3"]
                    notSourceIps: ["fd00::/8"]
                    destinationIps: ["192.168.0.0/16"]
                    notDestinationIps: ["192.168.1.0/24"]
                    destinationPorts: [80, 443]
                    notDestinationPorts: [8080]
                  - methods: ["GET"]
            """;
        LocalConfig config = LocalConfigParser.Parse(yaml);

        Workload w = config.Workloads[0];
        Assert.Equal(WorkloadProtocol.Tcp, w.Protocol);
        Assert.Equal("net1", w.Network);
        Assert.Equal(new GatewayAddress(new NetworkAddress("net1", IPAddress.Parse("10.0.0.9")), 15009), w.Waypoint);
        Assert.Equal(("app", "v1", "app-deploy", "c1"), (w.CanonicalName, w.CanonicalRevision, w.WorkloadName, w.ClusterId));
        Assert.Equal("web", w.Labels["app"]);
        Assert.Equal(IPAddress.Parse("fd00::1"), w.WorkloadIps[1]);
        Assert.Equal(new GatewayAddress(new NetworkAddress("", IPAddress.Parse("10.0.0.8")), 15008), config.Workloads[1].Waypoint);

        AuthorizationPolicy p = Assert.Single(config.Policies);
        Assert.Equal(PolicyScope.WorkloadSelector, p.Scope);
        Assert.Equal(PolicyAction.Deny, p.Action);
        Assert.Equal("web", p.Selector!["app"]);
        var matches = Assert.Single(Assert.Single(p.Rules).Clauses).Matches;
        PolicyMatch m = matches[0];
        Assert.Equal(["a", "b*", "*c", "*"], m.Namespaces);
        Assert.Equal(["x"], m.NotNamespaces);
        Assert.Equal(["cluster.local/ns/a/sa/b"], m.Principals);
        Assert.Equal(["p*"], m.NotPrincipals);
        Assert.Equal(["sa1"], m.ServiceAccounts);
        Assert.Equal(["sa2"], m.NotServiceAccounts);
        Assert.Equal([System.Net.IPNetwork.Parse("10.0.0.0/8"), System.Net.IPNetwork.Parse("10.1.2.3/32")], m.SourceIps);
        Assert.Equal([System.Net.IPNetwork.Parse("fd00::/8")], m.NotSourceIps);
        Assert.Equal([System.Net.IPNetwork.Parse("192.168.0.0/16")], m.DestinationIps);
        Assert.Equal([System.Net.IPNetwork.Parse("192.168.1.0/24")], m.NotDestinationIps);
        Assert.Equal([80, 443], m.DestinationPorts);
        Assert.Equal([8080], m.NotDestinationPorts);
        Assert.False(m.RequiresL7);
        Assert.True(matches[1].RequiresL7);
    }

    [Theory]
    [Trait("case", "ADV-11")]
    [InlineData("methods: [GET]")]
    [InlineData("paths: [/admin]")]
    [InlineData("hosts: [a.example]")]
    [InlineData("notMethods: [POST]")]
    public void L7_fields_are_kept_as_RequiresL7(string field)
    {
        string yaml = $"policies:\n- name: p\n  namespace: ns\n  scope: Global\n  action: Allow\n  rules: [[[ {{ destinationPorts: [80], {field} }} ]]]\n";
        PolicyMatch m = Assert.Single(Assert.Single(Assert.Single(LocalConfigParser.Parse(yaml).Policies[0].Rules).Clauses).Matches);
        Assert.True(m.RequiresL7);
        Assert.Equal([80], m.DestinationPorts);
    }

    [Fact]
    public void Empty_document_is_an_empty_config()
    {
        Assert.Equal(LocalConfig.Empty, LocalConfigParser.Parse(""));
        Assert.Empty(LocalConfigParser.Parse("workloads: []\n").Workloads);
    }

    private const string Workload0 = "workloads:\n- uid: a\n  name: a\n  namespace: ns\n  serviceAccount: sa\n";

    [Theory]
    [Trait("case", "FT-03")]
    // A wrong IP names its line and column.
    [InlineData(Workload0 + "- uid: b\n  name: b\n  namespace: ns\n  serviceAccount: sa\n  workloadIps: [\"10.0.0.1\", \"10.0.0.300\"]\n",
        10, 29, "workloads[1].workloadIps[1]: '10.0.0.300' is not an IP address")]
    [InlineData(Workload0 + "  workloadIps: [\"10\"]\n", 6, 17, "workloads[0].workloadIps[0]: '10' is not an IP address")]
    [InlineData(Workload0 + "  protocol: UDP\n", 6, 13, "workloads[0].protocol: unknown protocol 'UDP'")]
    [InlineData(Workload0 + "  workloadIps: \"10.0.0.1\"\n", 6, 16, "workloads[0].workloadIps: expected a sequence, found '10.0.0.1'")]
    [InlineData(Workload0 + "- uid: a\n  name: b\n  namespace: ns\n  serviceAccount: sa\n", 6, 8, "workloads[1].uid: duplicate workload uid 'a'")]
    [InlineData("workloads:\n- name: a\n  namespace: ns\n  serviceAccount: sa\n", 2, 3, "workloads[0]: missing required field 'uid'")]
    [InlineData(Workload0 + "  services: { \"default/echo\": { 80: 70000 } }\n", 6, 37, "workloads[0].services.default/echo.80: '70000' is not a port (1-65535)")]
    [InlineData(Workload0 + "  services: { \"echo\": { 80: 8080 } }\n", 6, 15, "workloads[0].services: 'echo' is not 'namespace/hostname'")]
    [InlineData(Workload0 + "  serviceAccount: x\n", 6, 3, "invalid YAML: Duplicate key")]
    [InlineData(Workload0 + "  waypoint: { destination: \"net/x\" }\n", 6, 28, "workloads[0].waypoint.destination: 'net/x' is not an IP address or 'network/ip'")]
    [InlineData("services:\n- name: e\n  namespace: ns\n  hostname: e.ns\n- name: e2\n  namespace: ns\n  hostname: e.ns\n", 7, 13, "services[1].hostname: duplicate service 'ns/e.ns'")]
    [InlineData("services:\n- name: e\n  namespace: ns\n  hostname: e.ns\n  vips: [\"/10.0.0\"]\n", 5, 10, "services[0].vips[0]: '/10.0.0' is not an IP address or 'network/ip'")]
    [InlineData("services:\n- name: e\n  namespace: ns\n  hostname: e.ns\n  ports: { http: 80 }\n", 5, 12, "services[0].ports: 'http' is not a port (1-65535)")]
    [InlineData("policies:\n- name: p\n  namespace: ns\n  scope: Cluster\n  action: Allow\n", 4, 10, "policies[0].scope: unknown scope 'Cluster'")]
    [InlineData("policies:\n- name: p\n  namespace: ns\n  scope: Global\n  action: Audit\n", 5, 11, "policies[0].action: unknown action 'Audit'")]
    [InlineData("policies:\n- name: p\n  namespace: ns\n  scope: Global\n  action: Deny\n  rules: [[[ { sourceIps: [\"10.0.0.1/8\"] } ]]]\n", 6, 28, "policies[0].rules[0][0][0].sourceIps[0]: '10.0.0.1/8' has bits set after the /8 prefix")]
    [InlineData("policies:\n- name: p\n  namespace: ns\n  scope: Global\n  action: Deny\n  rules: [[[ { destinationIps: [\"10.0.0.0/33\"] } ]]]\n", 6, 33, "policies[0].rules[0][0][0].destinationIps[0]: '10.0.0.0/33' is not a CIDR range")]
    [InlineData("policies:\n- name: p\n  namespace: ns\n  scope: Global\n  action: Deny\n  rules: [[[ { destinationPorts: [0] } ]]]\n", 6, 35, "policies[0].rules[0][0][0].destinationPorts[0]: '0' is not a port (1-65535)")]
    [InlineData("policies:\n- name: p\n  namespace: ns\n  scope: Global\n  action: Deny\n  rules: [[[ { namespaces: [\"a*b\"] } ]]]\n", 6, 29, "policies[0].rules[0][0][0].namespaces[0]: 'a*b' is not an exact, prefix")]
    [InlineData("policies:\n- name: p\n  namespace: ns\n  scope: Global\n  action: Deny\n  rules: [ { namespaces: [a] } ]\n", 6, 12, "policies[0].rules[0]: expected a sequence, found a mapping")]
    [InlineData("policies:\n- name: p\n  namespace: ns\n  scope: WorkloadSelector\n  action: Deny\n", 4, 10, "policies[0].scope: scope WorkloadSelector needs a 'selector'")]
    [InlineData("a: &x [1]\nworkloads: *x\n", 2, 12, "YAML aliases (*name) are not supported")]
    [InlineData("workloads: {}\n", 1, 12, "workloads: expected a sequence, found a mapping")]
    [InlineData("- 1\n", 1, 1, "(root): expected a mapping, found a sequence")]
    public void Errors_name_line_column_path_and_problem(string yaml, int line, int column, string fragment)
    {
        var e = Assert.Throws<LocalConfigException>(() => LocalConfigParser.Parse(yaml, "config.yaml"));
        Assert.Equal((line, column), ((int)e.Line, (int)e.Column));
        Assert.StartsWith($"config.yaml:{line}:{column}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    [Trait("case", "FT-03")]
    public void Malformed_yaml_is_one_line_with_its_position()
    {
        var e = Assert.Throws<LocalConfigException>(() => LocalConfigParser.Parse("workloads:\n- uid: a\n  name: [unclosed\n", "config.yaml"));
        Assert.StartsWith("config.yaml:", e.Message, StringComparison.Ordinal);
        Assert.Contains("invalid YAML", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.True(e.Line >= 3);
    }

    [Fact]
    public void ParseFile_names_the_file()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ztc-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "workloads: 3\n");
        try
        {
            var e = Assert.Throws<LocalConfigException>(() => LocalConfigParser.ParseFile(path));
            Assert.Equal($"{Path.GetFileName(path)}:1:12: workloads: expected a sequence, found '3'", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    [Trait("case", "FZ-05")]
    public void Deep_nesting_is_rejected_instead_of_overflowing_the_stack()
    {
        string yaml = "workloads: " + new string('[', 200_000) + new string(']', 200_000);
        var e = Assert.Throws<LocalConfigException>(() => LocalConfigParser.Parse(yaml, "config.yaml"));
        Assert.Equal("config.yaml:1:43: nesting deeper than 32 levels", e.Message);
    }
}
