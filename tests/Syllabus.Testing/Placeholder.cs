namespace Syllabus.Testing;
