from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api_service.accounts.scopes import WORKFLOWS_EXECUTE
from api_service.files.serializers import FileOutput, FileUploadInput
from api_service.files.services import file_upload
from api_service.http.parsers import BoundedMultiPartParser
from api_service.http.views import ApiView


class FileUploadView(ApiView):
    required_scopes = {"POST": WORKFLOWS_EXECUTE}
    parser_classes = [BoundedMultiPartParser]

    @extend_schema(request=FileUploadInput, responses={201: FileOutput}, operation_id="files_upload")
    def post(self, request: Request) -> Response:
        data = FileUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = file_upload(tenant=self.principal.tenant, upload=data.validated_data["file"])
        return Response(FileOutput(created).data, status=201)
