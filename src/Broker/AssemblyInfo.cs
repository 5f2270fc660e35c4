using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Kraft.Broker.Tests")]
