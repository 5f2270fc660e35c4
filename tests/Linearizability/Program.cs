namespace Kraft.Linearizability;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("usage: check --model MODEL FILE...");
        return args.Length == 0 ? 2 : 2;
    }
}
