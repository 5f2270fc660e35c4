using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using Kraft.Quorum.Raft;

namespace Kraft.Quorum.Tests.Raft;

/// <summary>
/// Keeps clocks, threads, sockets, files and ambient randomness out of the Raft core: scans the IL of
/// every method of every type in namespace Kraft.Quorum.Raft for references to banned members.
/// </summary>
public class BannedApiTests
{
    private static readonly string[] Banned =
    [
        "System.DateTime::get_Now", "System.DateTime::get_UtcNow", "System.DateTime::get_Today",
        "System.DateTimeOffset::get_Now", "System.DateTimeOffset::get_UtcNow",
        "System.Diagnostics.Stopwatch::", "System.Environment::get_TickCount", "System.TimeProvider::",
        "System.Threading.Thread::", "System.Threading.ThreadPool::", "System.Threading.Timer::",
        "System.Threading.Tasks.Task::Delay", "System.Threading.Tasks.Task::Run", "System.Threading.Tasks.Parallel::",
        "System.Net.Sockets.", "System.Net.Http.",
        "System.IO.File::", "System.IO.FileStream::", "System.IO.Directory::", "System.IO.FileInfo::", "System.IO.DirectoryInfo::",
        "System.Random::", "System.Security.Cryptography.RandomNumberGenerator::", "System.Guid::NewGuid",
        "System.Console::",
    ];

    [Fact]
    public void The_raft_core_references_no_clock_thread_socket_file_or_ambient_randomness()
    {
        var found = FindBannedReferences(typeof(RaftNode).Assembly.Location, "Kraft.Quorum.Raft", out int scanned);
        Assert.True(scanned > 100, $"only {scanned} methods scanned: is the namespace filter right?");
        Assert.True(found.Count == 0, "banned API use in the Raft core:\n" + string.Join("\n", found));
    }

    [Fact]
    public void The_scanner_finds_banned_calls_in_a_deliberately_bad_type()
    {
        var found = FindBannedReferences(typeof(BannedSamples.Impure).Assembly.Location, typeof(BannedSamples.Impure).Namespace!, out _);
        Assert.Contains(found, f => f.Contains("System.DateTime::get_UtcNow", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("System.Diagnostics.Stopwatch::", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("System.Threading.Tasks.Task::Delay", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("System.Random::", StringComparison.Ordinal));
        Assert.Contains(found, f => f.Contains("System.IO.File::", StringComparison.Ordinal));
    }

    internal static List<string> FindBannedReferences(string assemblyPath, string rootNamespace, out int scannedMethods)
    {
        scannedMethods = 0;
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var md = pe.GetMetadataReader();
        var opcodes = BuildOpcodeTable();
        var found = new List<string>();
        foreach (var typeHandle in md.TypeDefinitions)
        {
            var type = md.GetTypeDefinition(typeHandle);
            // Exactly the namespace or a sub-namespace: Kraft.Quorum.RaftDriver (the I/O side) is not the core.
            string ns = OuterNamespace(md, type);
            if (ns != rootNamespace && !ns.StartsWith(rootNamespace + ".", StringComparison.Ordinal)) continue;
            foreach (var methodHandle in type.GetMethods())
            {
                var method = md.GetMethodDefinition(methodHandle);
                if (method.RelativeVirtualAddress == 0) continue;
                scannedMethods++;
                var il = pe.GetMethodBody(method.RelativeVirtualAddress).GetILReader();
                foreach (var member in ReferencedMembers(md, il, opcodes))
                {
                    if (Banned.Any(b => member.StartsWith(b, StringComparison.Ordinal)))
                        found.Add($"{md.GetString(type.Name)}.{md.GetString(method.Name)} uses {member}");
                }
            }
        }
        return found;
    }

    private static string OuterNamespace(MetadataReader md, TypeDefinition type)
    {
        while (type.IsNested) type = md.GetTypeDefinition(type.GetDeclaringType());
        return md.GetString(type.Namespace);
    }

    private static Dictionary<ushort, OperandType> BuildOpcodeTable()
    {
        var table = new Dictionary<ushort, OperandType>();
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var op = (OpCode)field.GetValue(null)!;
            table[(ushort)op.Value] = op.OperandType;
        }
        return table;
    }

    private static IEnumerable<string> ReferencedMembers(MetadataReader md, BlobReader il, Dictionary<ushort, OperandType> opcodes)
    {
        var result = new List<string>();
        while (il.RemainingBytes > 0)
        {
            ushort code = il.ReadByte();
            if (code == 0xFE) code = (ushort)(0xFE00 | il.ReadByte());
            var operand = opcodes[code];
            switch (operand)
            {
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar: il.Offset += 1; break;
                case OperandType.InlineVar: il.Offset += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: il.Offset += 8; break;
                case OperandType.InlineSwitch: il.Offset += 4 * il.ReadInt32(); break;
                case OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineTok or OperandType.InlineType:
                    result.Add(Describe(md, MetadataTokens.EntityHandle(il.ReadInt32())));
                    break;
                default: il.Offset += 4; break;
            }
        }
        return result;
    }

    private static string Describe(MetadataReader md, EntityHandle handle)
    {
        switch (handle.Kind)
        {
            case HandleKind.MemberReference:
                var member = md.GetMemberReference((MemberReferenceHandle)handle);
                return $"{Describe(md, member.Parent)}::{md.GetString(member.Name)}";
            case HandleKind.MethodSpecification:
                return Describe(md, md.GetMethodSpecification((MethodSpecificationHandle)handle).Method);
            case HandleKind.TypeReference:
                var tr = md.GetTypeReference((TypeReferenceHandle)handle);
                return tr.ResolutionScope.Kind == HandleKind.TypeReference
                    ? $"{Describe(md, (TypeReferenceHandle)tr.ResolutionScope)}+{md.GetString(tr.Name)}"
                    : $"{md.GetString(tr.Namespace)}.{md.GetString(tr.Name)}";
            case HandleKind.TypeSpecification:
                return md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(new NameProvider(md), null);
            case HandleKind.MethodDefinition:
                var def = md.GetMethodDefinition((MethodDefinitionHandle)handle);
                return $"(own){md.GetString(def.Name)}";
            default:
                return $"({handle.Kind})";
        }
    }

    /// <summary>Turns a type signature into the name of its (generic) type definition.</summary>
    private sealed class NameProvider(MetadataReader md) : ISignatureTypeProvider<string, object?>
    {
        public string GetArrayType(string elementType, ArrayShape shape) => elementType + "[]";
        public string GetByReferenceType(string elementType) => elementType + "&";
        public string GetFunctionPointerType(MethodSignature<string> signature) => "fnptr";
        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments) => genericType;
        public string GetGenericMethodParameter(object? genericContext, int index) => "!!" + index;
        public string GetGenericTypeParameter(object? genericContext, int index) => "!" + index;
        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;
        public string GetPinnedType(string elementType) => elementType;
        public string GetPointerType(string elementType) => elementType + "*";
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => "System." + typeCode;
        public string GetSZArrayType(string elementType) => elementType + "[]";
        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            var t = md.GetTypeDefinition(handle);
            return $"{md.GetString(t.Namespace)}.{md.GetString(t.Name)}";
        }
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => Describe(md, handle);
        public string GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            md.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
    }
}
