using System.Security.Cryptography;
using System.Text;

namespace DevControlPlane.Ca;

/// <summary>Bearer tokens and the node each one authenticates (a stand-in for Kubernetes' TokenReview of a node proxy's token).</summary>
public sealed class NodeTokens(IReadOnlyDictionary<string, string> nodeByToken)
{
    /// <summary>No tokens configured: development mode, callers are not authenticated.</summary>
    public bool Disabled => nodeByToken.Count == 0;

    /// <summary>The node of an <c>authorization: Bearer &lt;token&gt;</c> header value, or null when unknown.</summary>
    public string? Authenticate(string? authorization)
    {
        const string Scheme = "Bearer ";
        if (authorization is null || !authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        byte[] presented = Encoding.UTF8.GetBytes(authorization[Scheme.Length..].Trim());
        foreach (var (token, node) in nodeByToken)
        {
            // Constant-time, so the comparison does not tell how much of a guess was right.
            if (CryptographicOperations.FixedTimeEquals(presented, Encoding.UTF8.GetBytes(token)))
            {
                return node;
            }
        }

        return null;
    }
}
