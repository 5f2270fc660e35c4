namespace Kraft.Broker.Configuration;

/// <summary>
/// The node configuration is invalid. <see cref="Errors"/> holds one line per problem, each naming
/// the key and where its value came from; the message is those lines (the first alone if only one).
/// </summary>
public sealed class ConfigException : Exception
{
    public ConfigException(string error)
        : this([error])
    {
    }

    public ConfigException(IReadOnlyList<string> errors)
        : base(errors.Count == 1 ? errors[0] : $"{errors.Count} configuration errors:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors))
    {
        Errors = errors;
    }

    public ConfigException()
        : this("invalid configuration")
    {
    }

    public ConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
        Errors = [message];
    }

    /// <summary>One line per problem, in the order found.</summary>
    public IReadOnlyList<string> Errors { get; }
}
