namespace Syllabus.Api;
