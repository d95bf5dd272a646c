using DevControlPlane.Config;
using Hbone.Istio.Protos.Security;

namespace Hbone.Istio.Tests.ControlPlane;

public sealed class DevControlPlaneConfigTests
{
    [Theory]
    [InlineData("workloads:\n- uid: a\n  name: a\n  namespace: default\n  serviceAccount: a\n  workloadIps: [\"10.1\"]\n", "mesh.yaml:6:17: workloads[0].workloadIps[0]: '10.1' is not an IP address")]
    [InlineData("workloads:\n- uid: a\n  name: a\n  namespace: default\n", "mesh.yaml:2:3: workloads[0]: missing required field 'serviceAccount'")]
    [InlineData("services:\n- { name: s, namespace: n, hostname: h, ports: { 80: 70000 } }\n", "mesh.yaml:2:54: services[0].ports: '70000' is not a port (1-65535)")]
    [InlineData("policies:\n- { name: p, namespace: n, scope: WorkloadSelector, action: Allow }\n", "mesh.yaml:2:3: policies[0].scope: scope WorkloadSelector needs a 'selector'")]
    [InlineData("policies:\n- { name: p, namespace: n, scope: Global, action: Allow, rules: [[[ { principals: [\"a*b\"] } ]]] }\n", "mesh.yaml:2:84: policies[0].rules[0][0][0].principals[0]: 'a*b' is not an exact, prefix (abc*), suffix (*abc) or presence (*) match")]
    public void CP_08_a_bad_file_is_one_line_naming_the_position_and_the_path(string yaml, string expected)
    {
        var error = Assert.Throws<MeshConfigException>(() => MeshYamlReader.Read(yaml, "mesh.yaml", "cluster.local"));
        Assert.Equal(expected, error.Message);
    }

    [Fact]
    public void CP_09_rules_that_need_l7_are_dropped_from_allow_and_narrowed_in_deny_as_istiod_does()
    {
        const string Yaml = """
            policies:
            - { name: allow, namespace: n, scope: Namespace, action: Allow, rules: [[[ { methods: [GET] } ]], [[ { destinationPorts: [80] } ]]] }
            - { name: deny, namespace: n, scope: Namespace, action: Deny, rules: [[[ { methods: [GET], destinationPorts: [81] } ]]] }
            """;

        MeshConfig config = MeshYamlReader.Read(Yaml, "mesh.yaml", "cluster.local");

        Authorization allow = config.Policies[0].Proto;
        Assert.Equal([80u], Assert.Single(allow.Rules).Clauses.Single().Matches.Single().DestinationPorts);
        Authorization deny = config.Policies[1].Proto;
        Assert.Equal([81u], Assert.Single(deny.Rules).Clauses.Single().Matches.Single().DestinationPorts);
    }
}
